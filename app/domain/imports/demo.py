"""The demo project: real errors of a small digit classifier (see demo/generate.py)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app import resources
from app.db import Database
from app.domain.accounts.users import create_user, get_user_by_username
from app.domain.imports.manifests import FolderMedia, Limits
from app.domain.imports.pipeline import ImportOptions, Upload, run_import
from app.domain.imports.store import MediaStore
from app.domain.projects.access import get_access
from app.domain.projects.runs import resolve_run, set_default_run
from app.domain.projects.settings import create_project
from app.domain.projects.team import add_member
from app.domain.review.label_audit import queue_audit
from app.models import (
    METRIC_FIELDS,
    Cause,
    CauseGroup,
    Project,
    ProjectRole,
    SampleKind,
)

DEMO_DIR = resources.DEMO
# Two versions of the model on the same eyeball set (demo/generate.py): a manifest and
# its run's name, description and metrics each. changes.json says what became of the
# first one's errors in the second.
DEMO_RUNS: tuple[tuple[str, str], ...] = (
    ("manifest.csv", "run.json"),
    ("manifest-v2.csv", "run-v2.json"),
)
DEMO_CHANGES = "changes.json"
DEMO_PROJECT = "Handwritten digits (demo)"
DEMO_USERS: tuple[tuple[str, str, ProjectRole], ...] = (
    ("lead", "Dana Lead", ProjectRole.LEAD),
    ("alice", "Alice Annotator", ProjectRole.ANNOTATOR),
    ("bob", "Bob Annotator", ProjectRole.ANNOTATOR),
)
# A site admin too, on no team: only an admin creates accounts, so without one a new
# lead could not add a person to the demo's team without the terminal.
DEMO_ADMIN = ("admin", "Ada Admin")
ADMIN_ROLE = "site admin"
# A first guess at the causes; the method expects more to be found while reviewing.
DEMO_CAUSES: tuple[tuple[str, str], ...] = (
    ("Ambiguous shape", "Even a person could read it as the predicted digit."),
    ("Faint or broken strokes", "Parts of the digit are missing or too light to see."),
    ("Heavy or smudged ink", "Strokes are so thick that loops close or merge."),
    ("Off-centre or cut off", "The digit is shifted, rotated or partly outside the 8×8 box."),
    ("Unusual style", "A real way of writing the digit that is rare in the training set."),
)
SIGN_INS_FILE = "demo_sign_ins.json"
DEMO_AUDIT = 50  # correct predictions of the first run queued for a label check


@dataclass(frozen=True)
class DemoSignIn:
    username: str
    password: str
    role: str


def demo_loaded(session: Session) -> bool:
    return session.scalar(select(Project.id).where(Project.name == DEMO_PROJECT)) is not None


def database_is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count(Project.id)))


def load_demo(database: Database, store: MediaStore, demo_dir: Path = DEMO_DIR) -> list[DemoSignIn]:
    """Create the demo users, project and causes, and import each model version as a run
    (oldest first, so `latest` is the newest). Returns the new sign-ins."""
    versions = [(manifest, _run_info(demo_dir, info)) for manifest, info in DEMO_RUNS]
    with database.transaction() as session:
        sign_ins, project_id = _team_and_causes(session, versions[0][1])
    try:
        for manifest, run_info in versions:
            _import_run(database, project_id, demo_dir, manifest, run_info, store)
    except Exception:
        # No half-made demo: without its runs it would only be in the way of the next try.
        with database.transaction() as session:
            session.execute(delete(Project).where(Project.id == project_id))
        raise
    with database.transaction() as session:
        # The project opens on the first version, the one to analyse; the next one is
        # there to compare with it (and to review with the first one's verdicts carried).
        lead = get_user_by_username(session, DEMO_USERS[0][0])
        assert lead is not None
        access = get_access(session, lead, project_id)
        first = resolve_run(session, access.project, versions[0][1]["name"])
        set_default_run(session, access, first.id)
        # A label audit under way, so the demo shows where its correct predictions stand.
        queue_audit(session, access, first, DEMO_AUDIT)
    return sign_ins


def _run_info(demo_dir: Path, name: str) -> dict[str, Any]:
    info: dict[str, Any] = json.loads((demo_dir / name).read_text(encoding="utf-8"))
    return info


def _import_run(
    database: Database,
    project_id: int,
    demo_dir: Path,
    manifest_name: str,
    run_info: dict[str, Any],
    store: MediaStore,
) -> None:
    # The demo goes through the same import as everyone's data: one way in.
    with (demo_dir / manifest_name).open("rb") as manifest:
        summary = run_import(
            database,
            project_id,
            Upload(manifest, manifest_name, FolderMedia(demo_dir, Limits())),
            ImportOptions(run=run_info["name"], evaluated=run_info["evaluated"]),
            store,
        )
    with database.transaction() as session:
        project = session.get(Project, project_id)
        assert project is not None
        run = resolve_run(session, project, summary.run)
        run.description = run_info["description"]
        for key, value in run_info["metrics"].items():
            if key in METRIC_FIELDS:
                setattr(run, key, value)


def _team_and_causes(session: Session, run_info: dict[str, Any]) -> tuple[list[DemoSignIn], int]:
    sign_ins: list[DemoSignIn] = []
    users = []
    for username, display_name, role in DEMO_USERS:
        user = get_user_by_username(session, username)
        if user is None:
            password = secrets.token_urlsafe(9)
            user = create_user(session, username, password, display_name=display_name)
            sign_ins.append(DemoSignIn(username, password, role.value))
        users.append((user, role))
    username, display_name = DEMO_ADMIN
    if get_user_by_username(session, username) is None:
        password = secrets.token_urlsafe(9)
        create_user(session, username, password, display_name=display_name, admin=True)
        sign_ins.append(DemoSignIn(username, password, ADMIN_ROLE))

    lead = users[0][0]
    project = create_project(
        session,
        lead,
        name=DEMO_PROJECT,
        kind=SampleKind.IMAGE,
        description="Why does a small logistic-regression model misread 8×8 handwritten digits? "
        "The eyeball set is 1,000 digits of scikit-learn's bundled data set.",
        labels=run_info["labels"],
        overlap=1,
        annotators_may_add_causes=True,
        queue_seed=run_info["seed"],
    )
    for user, role in users[1:]:
        add_member(session, project, user, role)

    group = session.scalars(select(CauseGroup).where(CauseGroup.project_id == project.id)).one()
    for position, (name, description) in enumerate(DEMO_CAUSES):
        session.add(
            Cause(
                project_id=project.id,
                group_id=group.id,
                name=name,
                description=description,
                position=position,
                key=str(position + 1),
                created_by_id=lead.id,
            )
        )

    session.flush()
    return sign_ins, project.id


def save_sign_ins(data_dir: Path, sign_ins: list[DemoSignIn]) -> None:
    """Kept so every later `make run` can print them again (the file is private to the owner)."""
    path = data_dir / SIGN_INS_FILE
    path.write_text(json.dumps([s.__dict__ for s in sign_ins], indent=2), encoding="utf-8")
    path.chmod(0o600)


def read_sign_ins(data_dir: Path) -> list[DemoSignIn]:
    path = data_dir / SIGN_INS_FILE
    if not path.exists():
        return []
    return [DemoSignIn(**item) for item in json.loads(path.read_text(encoding="utf-8"))]
