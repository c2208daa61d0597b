"""`python -m app` is the `eyeball` command (handy before the script is on PATH)."""

from app.cli import main

main()
