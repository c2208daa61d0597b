"""`make run` says what it is doing while it installs, before the long quiet steps.

Python, pip and the server are stand-ins here (a real first install takes minutes and
tests/test_quickstart.py does one): what is checked is what a person sees, in order.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from tests.checkout import CHECKOUT

# Stands in for `python3.x`: `-m venv DIR` makes a venv whose python (pip) and eyeball
# only say they ran.
FAKE_PYTHON = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho "(python $*)"\\n' > "$3/bin/python"
  printf '#!/bin/sh\\necho "(eyeball $*)"\\n' > "$3/bin/eyeball"
  chmod +x "$3/bin/python" "$3/bin/eyeball"
fi
"""


def make_run(venv: Path, python: Path) -> list[str]:
    make = shutil.which("make")
    assert make is not None, "make is part of the quick start"
    ran = subprocess.run(
        [make, "--no-print-directory", "run", f"VENV={venv}", f"PYTHON={python}"],
        cwd=CHECKOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return ran.stdout.splitlines()


def test_the_first_make_run_says_what_it_installs_then_serves(tmp_path: Path) -> None:
    python = tmp_path / "python3.11"
    python.write_text(FAKE_PYTHON, encoding="utf-8")
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    venv = tmp_path / "venv"

    lines = make_run(venv, python)
    assert lines[0].startswith(f"Setting up Eyeball in {venv}")
    steps = [
        "[1/3] Creating the virtual environment...",
        "[2/3] Updating pip...",
        "(python -m pip install --quiet --upgrade pip)",
        "[3/3] Installing Eyeball and its tools (a few minutes the first time)...",
        "(python -m pip install --quiet -e .[dev])",
        "Installed.",
    ]
    # Each step is announced before it runs, and the server starts after all of them.
    assert [line for line in lines if line in steps] == steps
    assert lines[-1].startswith("(eyeball serve --demo")

    # Installed: the next run starts the server straight away.
    again = make_run(venv, python)
    assert not [line for line in again if line in steps or line.startswith("Setting up")]
    assert again[-1].startswith("(eyeball serve --demo")
