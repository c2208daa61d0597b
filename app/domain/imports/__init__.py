"""Imports: reading a manifest and its images (`manifests`, `media`), checking and
applying an import (`pipeline`), imports run in the background from the browser
(`jobs`), predictions pushed from a notebook (`pushes`) and the demo project (`demo`).

May import `accounts` and `projects`; nothing here imports `review` or `analysis`.
"""
