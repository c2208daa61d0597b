"""The checkout the suite runs from: its docs, its Makefile, the folder commands run in."""

from __future__ import annotations

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
