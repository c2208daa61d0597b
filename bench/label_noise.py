"""How many wrong labels does "suspected label errors first" find? (issue 14)

The demo generator flips a known share of the eyeball labels; this imports that copy
through the demo loader (both model versions, as runs), ranks each run with
`label_suspects` (lowest probability of the given label first) and reports the recall
of the flipped labels in the top N, N = 5 % and 10 % of the ranked samples, beside
ordering by plain confidence (the model's probability of its own prediction, lowest
first) and beside picking N at random (recall N / size, on average).

    python3.11 -m venv /tmp/sk && /tmp/sk/bin/pip install scikit-learn pillow numpy
    /tmp/sk/bin/python demo/generate.py --label-noise 0.05 --out /tmp/digits-noisy
    .venv/bin/python bench/label_noise.py /tmp/digits-noisy

Prints a Markdown table for docs/label-errors.md. SQLite in a temporary folder: the
figures depend on the data only, not on the database.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import schema
from app.db import Database
from app.domain.accounts.users import get_user_by_username
from app.domain.analysis.label_suspects import label_suspects
from app.domain.imports.demo import DEMO_PROJECT, DEMO_USERS, load_demo
from app.domain.projects.access import get_access
from app.domain.projects.runs import runs_of
from app.models import Prediction, Project, Sample

SHARES = (0.05, 0.10)


@dataclass(frozen=True)
class Recall:
    run: str
    ranked: int  # predictions with probabilities: the pool both orders are over
    errors: int
    share: float
    budget: int
    flipped: int
    by_suspicion: int  # flipped labels among the top `budget` of label_suspects
    by_confidence: int  # among the `budget` least confident predictions

    def row(self) -> str:
        def pct(found: int) -> str:
            return f"{found}/{self.flipped} ({found / self.flipped:.0%})"

        return (
            f"| {self.run} | {self.errors} | top {self.share:.0%} ({self.budget}) "
            f"| {pct(self.by_suspicion)} | {pct(self.by_confidence)} "
            f"| {self.budget / self.ranked:.0%} |"
        )


def measure(demo_dir: Path, work_dir: Path) -> list[Recall]:
    flipped = {
        item["id"]
        for item in json.loads((demo_dir / "flipped.json").read_text(encoding="utf-8"))["flipped"]
    }
    database = Database.from_url(f"sqlite:///{work_dir / 'eyeball.db'}")
    try:
        schema.upgrade(database.engine)
        load_demo(database, work_dir / "media", demo_dir)
        results = []
        with database.transaction() as session:
            project = session.scalars(select(Project).where(Project.name == DEMO_PROJECT)).one()
            lead = get_user_by_username(session, DEMO_USERS[0][0])
            assert lead is not None
            access = get_access(session, lead, project.id)
            for run in runs_of(session, project):
                # Plain confidence, over the same pool label_suspects ranks (predictions
                # with probabilities), least confident first, ties by sample id.
                by_confidence = session.execute(
                    select(Sample.external_id, Prediction.is_error)
                    .join(Sample, Sample.id == Prediction.sample_id)
                    .where(Prediction.run_id == run.id, Prediction.probs.is_not(None))
                    .order_by(Prediction.confidence, Sample.external_id)
                ).all()
                errors = sum(is_error for _, is_error in by_confidence)
                for share in SHARES:
                    budget = math.ceil(share * len(by_confidence))
                    suspects = label_suspects(session, access, run.name, limit=budget)
                    assert suspects.ranked == len(by_confidence)
                    top = {s.external_id for s in suspects.suspects}
                    least_confident = {external_id for external_id, _ in by_confidence[:budget]}
                    results.append(
                        Recall(
                            run=run.name,
                            ranked=len(by_confidence),
                            errors=errors,
                            share=share,
                            budget=budget,
                            flipped=len(flipped),
                            by_suspicion=len(top & flipped),
                            by_confidence=len(least_confident & flipped),
                        )
                    )
        return results
    finally:
        database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demo_dir", type=Path, help="output of generate.py --label-noise")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(args.demo_dir.resolve(), Path(tmp))
    print(
        "| run | errors (noisy labels) | budget | flipped found, suspects order "
        "| flipped found, least confident first | random (expected) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for result in results:
        print(result.row())


if __name__ == "__main__":
    main()
