"""The `eyeball` command."""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from app import backups, i18n, metrics, schema
from app.config import Settings, get_settings
from app.db import Database
from app.domain.accounts.users import (
    create_token,
    create_user,
    get_user_by_username,
    revoke_token,
    set_password,
)
from app.domain.analysis.health import run_health
from app.domain.errors import DomainError
from app.domain.imports import demo
from app.domain.imports.manifests import FolderMedia, Limits, MediaSource, ZipMedia
from app.domain.imports.pipeline import ImportOptions, ImportRefused, Upload, run_import
from app.domain.imports.progress import ImportProgress, Phase, phase_label, timings
from app.domain.imports.store import media_store
from app.domain.projects.access import find_project
from app.domain.projects.runs import resolve_run
from app.i18n import gettext as _
from app.models import ApiToken, User

cli = typer.Typer(help="Eyeball: error analysis for machine-learning models.", no_args_is_help=True)
# Seconds a uvicorn worker may take to answer its supervisor (see `serve`).
WORKER_HEALTHCHECK_SECONDS = 60
db_cli = typer.Typer(help="Database schema (Alembic revisions).", no_args_is_help=True)
user_cli = typer.Typer(help="User accounts.", no_args_is_help=True)
token_cli = typer.Typer(help="API tokens for notebooks.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(user_cli, name="user")
cli.add_typer(token_cli, name="token")


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@contextmanager
def _opened(settings: Settings) -> Iterator[Database]:
    """The configured database for one command, released however the command ends; a
    refusal by the rules is a red message and exit code 1, never a traceback."""
    settings.ensure_dirs()
    database = Database.from_url(
        settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    try:
        yield database
    except DomainError as exc:
        raise _fail(exc.message) from None
    finally:
        database.dispose()


def _print_sign_ins(settings: Settings) -> None:
    sign_ins = demo.read_sign_ins(settings.data_dir)
    if not sign_ins:
        return
    typer.echo(
        _("Demo sign-ins (kept in %(path)s):", path=str(settings.data_dir / demo.SIGN_INS_FILE))
    )
    for s in sign_ins:
        typer.echo(f"  {s.username:<8} {s.password:<16} ({s.role})")


def _load_demo(settings: Settings, database: Database, *, only_if_empty: bool) -> None:
    with database.transaction() as session:
        if demo.demo_loaded(session):
            if not only_if_empty:
                typer.echo(_("The demo project is already loaded."))
            return
        if only_if_empty and not demo.database_is_empty(session):
            return
    typer.echo(_("Loading the demo project (1,000 handwritten digits, two model versions)..."))
    sign_ins = demo.load_demo(database, media_store(settings))
    if sign_ins:
        demo.save_sign_ins(settings.data_dir, sign_ins)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (EYEBALL_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (EYEBALL_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="uvicorn worker processes (EYEBALL_WORKERS).")
    ] = None,
    with_demo: Annotated[
        bool, typer.Option("--demo", help="Load the demo project if the database is empty.")
    ] = False,
) -> None:
    """Upgrade the database, then serve Eyeball."""
    settings = get_settings()
    workers = workers or settings.workers
    if workers > 1 and settings.is_sqlite:
        raise _fail(
            _(
                "SQLite is served by one process: several workers need PostgreSQL "
                "(set EYEBALL_DATABASE_URL=postgresql+psycopg://...) so that live updates "
                "reach every worker."
            )
        )
    with _opened(settings) as database:
        schema.upgrade(database.engine)
        if with_demo:
            _load_demo(settings, database, only_if_empty=True)
    host = host or settings.host
    port = port or settings.port
    url = f"http://{host}:{port}"
    typer.echo("\n" + _("Eyeball is serving on %(url)s", url=url))
    if with_demo:
        _print_sign_ins(settings)
    typer.echo(_("Stop it with Ctrl+C.") + "\n")
    with metrics_folder(workers):
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            # uvicorn kills a worker that does not answer its supervisor's ping within
            # this many seconds. A worker answers from a thread it starts only once the
            # spawned interpreter has re-imported the command (`eyeball`, so app.cli and
            # everything it imports); on a loaded machine that took over the default 5 s,
            # and the worker was killed and restarted in a loop ("Child process died").
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            proxy_headers=True,
            # The client's address (sign-in limits, who may read /metrics) comes from
            # X-Forwarded-For only when the proxy sending it is one of these.
            forwarded_allow_ips=settings.forwarded_allow_ips,
            log_level="info",
            log_config=logging_config(),
            # app.request_log writes one JSON line per request instead.
            access_log=False,
        )


def logging_config() -> dict[str, Any]:
    """uvicorn's own logging, plus the request log: bare JSON lines on standard output."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["json_line"] = {"format": "%(message)s"}
    config["handlers"]["requests"] = {
        "class": "logging.StreamHandler",
        "formatter": "json_line",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["eyeball.access"] = {
        "handlers": ["requests"],
        "level": "INFO",
        "propagate": False,
    }
    return config


@contextmanager
def metrics_folder(workers: int) -> Iterator[None]:
    """With several workers, an empty folder for their metrics, gone when the server stops.

    prometheus_client's multiprocess mode keeps each process's figures in files there;
    the workers are spawned interpreters that inherit the variable, and their
    prometheus_client reads it when first imported. A folder named by the operator in
    PROMETHEUS_MULTIPROC_DIR is emptied at start instead (figures of a previous run
    would otherwise be added to this one's).
    """
    given = os.environ.get(metrics.MULTIPROCESS_ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        yield
        return
    if workers == 1:  # one process keeps its figures in memory
        yield
        return
    with tempfile.TemporaryDirectory(prefix="eyeball-metrics-") as made:
        os.environ[metrics.MULTIPROCESS_ENV] = made
        try:
            yield
        finally:
            del os.environ[metrics.MULTIPROCESS_ENV]


@cli.command("demo")
def demo_command() -> None:
    """Load the demo project and print its sign-ins."""
    settings = get_settings()
    with _opened(settings) as database:
        schema.upgrade(database.engine)
        _load_demo(settings, database, only_if_empty=False)
    _print_sign_ins(settings)


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply revisions up to REVISION (default: the newest)."""
    with _opened(get_settings()) as database:
        schema.upgrade(database.engine, revision)
        typer.echo(
            _(
                "Database at revision %(revision)s.",
                revision=schema.current_revision(database.engine),
            )
        )


@db_cli.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str,
        typer.Argument(
            help="Where to go down to: a revision id (e.g. 0008), 'base' (nothing left), "
            "or -N after '--' (e.g. `eyeball db downgrade -- -1`)."
        ),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", help="Really undo them: without it, only say what would go.")
    ] = False,
) -> None:
    """Say which revisions going down to REVISION undoes and what they drop; undo them
    only with --yes. Undoing a revision drops its tables and columns WITH THEIR DATA."""
    with _opened(get_settings()) as database:
        try:
            plan = schema.downgrade_plan(database.engine, revision)
        except schema.UnknownTarget as exc:
            raise _fail(str(exc)) from None
        if not plan:
            typer.echo(_("Nothing to undo: the database is already at that revision."))
            return
        typer.echo(
            _(
                "Going down to %(revision)s undoes %(count)s revision(s), newest first; what "
                "each added is dropped, with its data:",
                revision=revision,
                count=len(plan),
            )
        )
        for undone in plan:
            typer.echo(f"  {undone.revision}  {undone.summary}")
        if not yes:
            raise _fail(_("Nothing was changed. Run again with --yes to undo these revisions."))
        schema.downgrade(database.engine, revision)
        typer.echo(
            _(
                "Database at revision %(revision)s.",
                revision=schema.current_revision(database.engine) or "base",
            )
        )


@db_cli.command("current")
def db_current() -> None:
    """Print the database's revision and the newest one."""
    with _opened(get_settings()) as database:
        current = schema.current_revision(database.engine)
    head = schema.head_revision()
    state = _("up to date") if current == head else _("behind (newest is %(head)s)", head=head)
    # The revision first, as it is: scripts read it (`eyeball db current | cut -d: -f1`).
    typer.echo(f"{current or 'empty'}: {state}")


@cli.command("backup")
def backup_command(
    path: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup.")],
) -> None:
    """Write a consistent snapshot of the database and the media, while Eyeball serves."""
    settings = get_settings()
    try:
        done = backups.backup(settings, path)
    except backups.BackupError as exc:
        raise _fail(str(exc)) from None
    manifest = done.manifest
    typer.echo(
        _(
            "Backed up the %(database)s database at revision %(revision)s into %(path)s.",
            database=manifest["database"],
            revision=manifest["alembic_revision"],
            path=str(path),
        )
    )
    if manifest["media"]["included"]:
        typer.echo(_("With %(count)s media files.", count=done.media_files))
    else:
        typer.echo(
            _(
                "The images are in the S3 bucket %(bucket)s and not in "
                "this backup: back the bucket up by the store's own means (versioning, "
                "replication or a copy of the bucket). The backup holds their index.",
                bucket=repr(manifest["media"]["bucket"]),
            )
        )


@cli.command("restore")
def restore_command(
    path: Annotated[Path, typer.Argument(help="A folder written by `eyeball backup`.")],
) -> None:
    """Bring a backup back into an empty installation (empty database and media folder)."""
    settings = get_settings()
    try:
        done = backups.restore(settings, path)
    except backups.BackupError as exc:
        raise _fail(str(exc)) from None
    manifest = done.manifest
    typer.echo(
        _(
            "Restored the backup of %(created)s (Eyeball %(version)s, revision %(revision)s), "
            "with %(count)s media files.",
            created=manifest["created_at"],
            version=manifest["eyeball_version"],
            revision=manifest["alembic_revision"],
            count=done.media_files,
        )
    )
    if not manifest["media"]["included"]:
        typer.echo(
            _(
                "Its images were in an S3 bucket: restore the bucket by the store's own means "
                "and point EYEBALL_S3_BUCKET at it."
            )
        )
    typer.echo(_("`eyeball serve` upgrades the database to this version's schema if needed."))


@user_cli.command("create")
def user_create(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    admin: Annotated[bool, typer.Option("--admin", help="Site administrator.")] = False,
    display_name: Annotated[str, typer.Option(help="Name shown in the app.")] = "",
) -> None:
    """Create a user."""
    with _opened(get_settings()) as database, database.transaction() as session:
        user = create_user(session, username, password, display_name=display_name, admin=admin)
        typer.echo(
            _("Created admin %(username)s.", username=user.username)
            if admin
            else _("Created user %(username)s.", username=user.username)
        )


@user_cli.command("set-password")
def user_set_password(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Set a user's password (this ends their other sign-ins)."""
    with _opened(get_settings()) as database, database.transaction() as session:
        user = get_user_by_username(session, username)
        if user is None:
            raise _fail(_("No user named %(username)s.", username=repr(username)))
        set_password(session, user, password)
        typer.echo(_("Password changed for %(username)s.", username=user.username))


@token_cli.command("create")
def token_create(
    username: str,
    name: Annotated[str, typer.Option(help="What the token is for, e.g. the notebook.")],
) -> None:
    """Create an API token for USERNAME and print it (it is shown only this once)."""
    with _opened(get_settings()) as database, database.transaction() as session:
        user = get_user_by_username(session, username)
        if user is None:
            raise _fail(_("No user named %(username)s.", username=repr(username)))
        issued = create_token(session, user, name)
        typer.echo(
            _(
                "Token %(id)s (%(name)s) for %(username)s:",
                id=issued.token.id,
                name=issued.token.name,
                username=user.username,
            )
        )
        typer.echo(issued.secret)


@token_cli.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="The token's number")]) -> None:
    """Revoke an API token: it stops working at once."""
    with _opened(get_settings()) as database, database.transaction() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise _fail(_("No token number %(id)s.", id=token_id))
        owner = session.get(User, token.user_id)
        assert owner is not None
        revoke_token(session, owner, token_id)
        typer.echo(
            _(
                "Revoked token %(id)s (%(name)s) of %(username)s.",
                id=token_id,
                name=token.name,
                username=owner.username,
            )
        )


@contextmanager
def _media(images: Path | None, limits: Limits) -> Iterator[MediaSource | None]:
    if images is None:
        yield None
    elif images.is_dir():
        yield FolderMedia(images, limits)
    else:
        media = ZipMedia(images, limits)
        try:
            yield media
        finally:
            media.close()


@cli.command("import")
def import_command(
    project: Annotated[str, typer.Argument(help="The project's id or name.")],
    manifest: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSONL manifest.")
    ],
    images: Annotated[
        Path | None, typer.Option(exists=True, help="Folder or zip of the images.")
    ] = None,
    run: Annotated[
        str | None, typer.Option(help="Run name (default: the manifest's file name).")
    ] = None,
    evaluated: Annotated[
        int | None,
        typer.Option(help="Samples the run was evaluated on, when the manifest lists only errors."),
    ] = None,
    sample_errors: Annotated[
        int | None, typer.Option(help="Put a random sample of this many errors under review.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of that random sample.")] = None,
) -> None:
    """Import a model's predictions on the eyeball set (all or nothing)."""
    settings = get_settings()
    limits = Limits.from_settings(settings)
    options = ImportOptions(
        run=run or manifest.stem, evaluated=evaluated, sample_errors=sample_errors, seed=seed
    )
    with _opened(settings) as database:
        try:
            with database.transaction(read_only=True) as session:
                project_id = find_project(session, project).id
            with (
                Progress(
                    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()
                ) as bar,
                _media(images, limits) as media,
                manifest.open("rb") as stream,
            ):
                task = bar.add_task(phase_label(Phase.READING), total=None)

                def show(progress: ImportProgress) -> None:
                    bar.update(
                        task,
                        description=progress.label,
                        completed=progress.done,
                        total=progress.total or None,  # None: a bar of unknown length
                    )

                summary = run_import(
                    database,
                    project_id,
                    Upload(stream, manifest.name, media),
                    options,
                    media_store(settings),
                    limits=limits,
                    progress=ImportProgress(on_change=show),
                )
        except ImportRefused as exc:
            typer.secho(exc.message, fg=typer.colors.RED, err=True)
            for problem in exc.problems:
                typer.echo(f"  {problem}", err=True)
            raise typer.Exit(code=1) from None
        with database.transaction(read_only=True) as session:
            imported = find_project(session, project)
            health = run_health(session, imported, resolve_run(session, imported, summary.run))
    typer.echo(
        _(
            "Imported run %(run)s: %(rows)s rows, %(errors)s errors "
            "(error rate %(rate)s), %(samples)s new samples, "
            "%(predictions)s new predictions, "
            "%(queued)s errors under review.",
            run=repr(summary.run),
            rows=summary.rows,
            errors=summary.errors,
            rate=i18n.format_percent(summary.error_rate),
            samples=summary.samples_created,
            predictions=summary.predictions_created,
            queued=summary.queued_for_review,
        )
    )
    if summary.seed is not None:
        typer.echo(_("Review sample drawn with seed %(seed)s.", seed=summary.seed))
    if summary.phases:
        typer.echo(timings(summary.phases))
    typer.echo(health.advice)


def main() -> None:
    """The command, speaking the site's default language (EYEBALL_DEFAULT_LANGUAGE).

    The options' help stays English: typer reads it when this module is imported,
    before any setting is. A setting that cannot be read is reported by the command
    itself, in English."""
    language: str
    try:
        language = get_settings().default_language
    except ValueError:
        language = i18n.ENGLISH
    with i18n.speaking(language):
        cli()
