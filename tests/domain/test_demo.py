"""The demo is a real eyeball set: the numbers must be those of the generated data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.accounts.users import authenticate
from app.domain.imports import demo
from app.domain.projects.runs import resolve_run
from app.domain.projects.team import team_of
from app.domain.review.status import run_progress
from app.models import Cause, MediaBlob, Prediction, Project
from tests.importing import database_of


def test_demo_loads_the_generated_eyeball_set(session: Session, tmp_path: Path) -> None:
    sign_ins = demo.load_demo(database_of(session), tmp_path)
    with (demo.DEMO_DIR / "manifest.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    expected_errors = sum(r["label"] != r["prediction"] for r in rows)
    run_info = json.loads((demo.DEMO_DIR / "run.json").read_text())

    project = session.scalars(select(Project).where(Project.name == demo.DEMO_PROJECT)).one()
    run = resolve_run(session, project, "latest")
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

    blobs = session.scalar(select(func.count()).select_from(MediaBlob))
    assert blobs is not None
    assert 0 < blobs <= len(rows)
    assert len(list((tmp_path / "thumbs").rglob("*.png"))) == blobs


def test_sign_ins_are_kept_privately_for_later_starts(tmp_path: Path) -> None:
    sign_ins = [demo.DemoSignIn("lead", "pw-one", "lead")]
    demo.save_sign_ins(tmp_path, sign_ins)
    assert demo.read_sign_ins(tmp_path) == sign_ins
    assert (tmp_path / demo.SIGN_INS_FILE).stat().st_mode & 0o077 == 0
