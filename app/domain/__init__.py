"""The rules of error analysis and of running a project. No HTTP in here.

Packages by capability, each importing only what sits below it:

- `errors`, `integrity`, `live`, `names`, `verdicts`: shared by every package
  (exceptions, the database's refusals in plain words, announcements to open pages,
  the naming rule, and each error's verdict: the rule and its stored upkeep).
- `accounts/`: users, passwords, API tokens, site settings.
- `projects/`: a project and who may reach it, its settings, runs, team and causes.
- `review/`: an error's status, the work queue, saving annotations, adjudication.
- `analysis/`: tallies and ceilings, the sheet, its views and exports, runs compared,
  the dashboard.
- `imports/`: manifests, images, import jobs, pushes from notebooks, the demo.

No module here imports FastAPI or Starlette (ruff's banned-api rule enforces it).
"""
