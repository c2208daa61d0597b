"""The demo is a real eyeball set: the numbers must be those of the generated data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.accounts.users import authenticate
from app.domain.analysis.compare import compare_pair
from app.domain.imports import demo
from app.domain.imports.store import LocalMediaStore
from app.domain.projects.access import get_access
from app.domain.projects.runs import home_run, resolve_run, runs_of
from app.domain.projects.team import team_of
from app.domain.review.status import run_progress
from app.models import Cause, MediaBlob, Prediction, Project, Sample
from tests.importing import database_of


def test_demo_loads_the_generated_eyeball_set(session: Session, tmp_path: Path) -> None:
    sign_ins = demo.load_demo(database_of(session), LocalMediaStore(tmp_path))
    with (demo.DEMO_DIR / "manifest.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    expected_errors = sum(r["label"] != r["prediction"] for r in rows)
    run_info = json.loads((demo.DEMO_DIR / "run.json").read_text())

    project = session.scalars(select(Project).where(Project.name == demo.DEMO_PROJECT)).one()
    run = home_run(session, project)
    assert run is not None
    assert run.name == run_info["name"]  # the project opens on the first version
    progress = run_progress(session, project, run)
    assert run.evaluated == len(rows) == 1000
    assert progress.errors == expected_errors == run_info["errors"]
    assert progress.in_review == expected_errors
    assert progress.error_rate == expected_errors / len(rows)
    assert run.training_error == run_info["metrics"]["training_error"]

    orders = session.scalars(
        select(Prediction.review_order).where(Prediction.run_id == run.id, Prediction.in_review)
    ).all()
    assert None not in orders
    assert sorted(o for o in orders if o is not None) == list(range(expected_errors))
    assert (
        session.scalar(
            select(func.count()).select_from(Cause).where(Cause.project_id == project.id)
        )
        == 5
    )

    roles = {m.user.username: m.role.value for m in team_of(session, project)}
    assert roles == {"lead": "lead", "alice": "annotator", "bob": "annotator"}
    for sign_in in sign_ins:
        assert authenticate(session, sign_in.username, sign_in.password) is not None
    # The admin, who may create the accounts a lead then adds to the team, is printed too.
    assert [(s.username, s.role) for s in sign_ins] == [
        ("lead", "lead"),
        ("alice", "annotator"),
        ("bob", "annotator"),
        ("admin", "site admin"),
    ]
    admin = authenticate(session, "admin", sign_ins[-1].password)
    assert admin is not None
    assert admin.is_admin

    # Both versions score the same eyeball set: one sample per digit, one image each.
    samples = select(func.count()).select_from(Sample).where(Sample.project_id == project.id)
    assert session.scalar(samples) == len(rows)
    blobs = session.scalar(select(func.count()).select_from(MediaBlob))
    assert blobs is not None
    assert 0 < blobs <= len(rows)
    assert len(list((tmp_path / "thumbs").rglob("*.png"))) == blobs


def test_comparing_the_demos_two_versions_gives_the_generators_fixed_new_and_stayed(
    session: Session, tmp_path: Path
) -> None:
    """End to end on real data: both model versions imported as runs, compared by the
    app, against what demo/generate.py counted from the two models' predictions."""
    demo.load_demo(database_of(session), LocalMediaStore(tmp_path))
    expected = json.loads((demo.DEMO_DIR / demo.DEMO_CHANGES).read_text())
    infos = [json.loads((demo.DEMO_DIR / info).read_text()) for _, info in demo.DEMO_RUNS]
    project = session.scalars(select(Project).where(Project.name == demo.DEMO_PROJECT)).one()
    runs = runs_of(session, project)
    assert [r.name for r in runs] == [i["name"] for i in infos] == [expected["a"], expected["b"]]
    assert resolve_run(session, project, "latest").name == expected["b"]
    for run, info in zip(runs, infos, strict=True):
        assert (run.evaluated, run.blackbox_error) == (1000, info["metrics"]["blackbox_error"])
        assert run_progress(session, project, run).errors == info["errors"]
    lead = next(m.user for m in team_of(session, project) if m.user.username == "lead")

    before, after = runs
    comparison = compare_pair(session, get_access(session, lead, project.id), before, after)

    changes = comparison.errors
    assert (len(changes.fixed), len(changes.new), len(changes.stayed)) == (
        len(expected["fixed"]),
        len(expected["new"]),
        len(expected["stayed"]),
    )
    assert (changes.fixed, changes.new, changes.stayed) == (
        tuple(expected["fixed"]),
        tuple(expected["new"]),
        tuple(expected["stayed"]),
    )
    # The generator's own counts add up to each run's errors.
    assert len(changes.fixed) + len(changes.stayed) == infos[0]["errors"]
    assert len(changes.new) + len(changes.stayed) == infos[1]["errors"]
    rate_change = comparison.error_rate_change
    assert rate_change is not None
    assert rate_change.value == (infos[1]["errors"] - infos[0]["errors"]) / 1000
    assert comparison.error_rate_trend == "fell"


def test_sign_ins_are_kept_privately_for_later_starts(tmp_path: Path) -> None:
    sign_ins = [demo.DemoSignIn("lead", "pw-one", "lead")]
    demo.save_sign_ins(tmp_path, sign_ins)
    assert demo.read_sign_ins(tmp_path) == sign_ins
    assert (tmp_path / demo.SIGN_INS_FILE).stat().st_mode & 0o077 == 0
