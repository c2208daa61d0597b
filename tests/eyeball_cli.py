"""The `eyeball` command as the suite's servers run it: the real CLI, hashing cheaply.

`python -m tests.eyeball_cli serve ...` instead of `python -m app serve ...`. The swap
runs at import rather than under the main guard because uvicorn's extra workers are
spawned interpreters that re-import this module (as __mp_main__) without running its
main block; they hash cheaply too.
"""

from __future__ import annotations

from app.cli import main
from tests.hashing import use_cheap_hashing

use_cheap_hashing()

if __name__ == "__main__":
    main()
