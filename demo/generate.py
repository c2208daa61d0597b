"""Make the demo eyeball set from scikit-learn's bundled digits (no download).

Run once by a developer; its output under demo/digits/ is committed so the app
needs no scikit-learn at run time:

    python -m venv /tmp/sk && /tmp/sk/bin/pip install scikit-learn pillow
    /tmp/sk/bin/python demo/generate.py

The split follows the method: four disjoint sets (training, blackbox validation,
eyeball validation, test) from one distribution. The classifier is deliberately
small (logistic regression on 120 training digits) so the eyeball set shows
about a hundred errors.
The manifest lists the WHOLE eyeball split, correct samples included, so the
import computes the eyeball error rate itself.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

OUT = Path(__file__).resolve().parent / "digits"
SEED = 20261129
SPLITS = {"training": 120, "blackbox": 300, "eyeball": 1000}  # the rest is the test set
# Human-level error on 8x8 digits, as reported for the UCI set: people misread ~1%.
HUMAN_ERROR = 0.01


def main() -> None:
    digits = load_digits()
    x, y, images = digits.data, digits.target, digits.images
    order = np.random.default_rng(SEED).permutation(len(y))
    bounds = np.cumsum(list(SPLITS.values()))
    train, blackbox, eyeball, test = np.split(order, bounds)

    # Few training samples and a mild penalty: a model with a clear variance gap.
    model = LogisticRegression(C=0.002, max_iter=2000).fit(x[train], y[train])

    def error(idx: np.ndarray) -> float:
        return float(np.mean(model.predict(x[idx]) != y[idx]))

    probs = model.predict_proba(x[eyeball])
    predicted = probs.argmax(axis=1)

    (OUT / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for position, (index, p) in enumerate(zip(eyeball, probs, strict=True)):
        sample_id = f"digit-{int(index):04d}"
        pixels = (255 - images[index] * (255 / 16)).round().astype(np.uint8)  # dark ink on white
        image_name = f"{sample_id}.png"
        Image.fromarray(pixels, mode="L").save(OUT / "images" / image_name, optimize=True)
        ink = float(np.mean(images[index] > 0))
        rows.append(
            {
                "id": sample_id,
                "label": str(int(y[index])),
                "prediction": str(int(predicted[position])),
                "confidence": round(float(p.max()), 4),
                "probs": json.dumps({str(k): round(float(v), 4) for k, v in enumerate(p)}),
                "image": f"images/{image_name}",
                "ink_coverage": round(ink, 3),
                "heavy_ink": "yes" if ink > 0.55 else "no",
            }
        )

    with (OUT / "manifest.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    errors = sum(r["label"] != r["prediction"] for r in rows)
    run = {
        "name": "logreg-120",
        "description": "Logistic regression (C=0.002) on raw 8×8 pixels, trained on 120 digits.",
        "evaluated": len(rows),
        "errors": errors,
        "metrics": {
            "human_error": HUMAN_ERROR,
            "training_error": round(error(train), 4),
            "blackbox_error": round(error(blackbox), 4),
            "test_error": round(error(test), 4),
        },
        "labels": [str(k) for k in range(10)],
        "seed": SEED,
    }
    (OUT / "run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    print(
        f"{len(rows)} eyeball samples, {errors} errors ({errors / len(rows):.1%}); {run['metrics']}"
    )


if __name__ == "__main__":
    main()
