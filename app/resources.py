"""Where the files that ship with the code are: templates, static files, migrations, demo.

The repository keeps them at its top level (templates/, static/, migrations/, demo/);
the wheel carries them inside the `app` package (pyproject.toml maps them there), so an
installed copy finds them beside its own modules, from any working directory. An editable
install of a checkout imports `app` from the checkout, and finds them one level up, where
the repository keeps them. The layout below the root is the same in both.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# pip always installs a wheel as plain files, so the package is a real folder.
_PACKAGE = Path(str(files("app")))
ROOT = _PACKAGE if (_PACKAGE / "templates").is_dir() else _PACKAGE.parent

TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
MIGRATIONS = ROOT / "migrations"
DEMO = ROOT / "demo" / "digits"
# The message catalogues live inside the package in both layouts (app/locale).
LOCALE = _PACKAGE / "locale"
