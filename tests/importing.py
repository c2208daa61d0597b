"""Builders for import tests: manifests and image zips made in memory."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session

from app.db import Database
from app.domain.imports.manifests import Limits, ZipMedia


def database_of(session: Session) -> Database:
    """The database a test's session sits in, for code that opens its own transactions
    (the import pipeline): they join the test's transaction as savepoints."""
    session.flush()
    connection = session.connection()
    return Database(connection.engine, bind=connection)


def png(colour: int = 0, size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, colour).save(out, format="PNG")
    return out.getvalue()


def csv_bytes(rows: list[dict[str, Any]], *, bom: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
        )
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()


def jsonl_bytes(rows: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """The same files give the same bytes (entries dated alike, not by the clock)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def zip_media(files: dict[str, bytes], limits: Limits | None = None) -> ZipMedia:
    return ZipMedia(io.BytesIO(zip_bytes(files)), limits or Limits())


def image_rows(count: int, errors: int, *, prefix: str = "s") -> list[dict[str, Any]]:
    """`count` rows labelled cat, of which the first `errors` are predicted dog."""
    return [
        {
            "id": f"{prefix}{i:03d}",
            "label": "cat",
            "prediction": "dog" if i < errors else "cat",
            "confidence": 0.75,
            "image": f"images/{prefix}{i:03d}.png",
            "camera": "front" if i % 2 else "back",
            "size": i,
        }
        for i in range(count)
    ]


def images_for(rows: list[dict[str, Any]]) -> dict[str, bytes]:
    # Distinct pixels per row, so each sample has its own blob.
    return {row["image"]: png(colour=i % 250) for i, row in enumerate(rows)}


def write_demo_like(folder: Path, rows: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.csv").write_bytes(csv_bytes(rows))
    for name, data in images_for(rows).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
