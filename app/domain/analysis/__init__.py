"""Analysis: the arithmetic of error analysis (`tally`), the per-cause sheet of a run
(`sheet`) and which of its rows are shown (`views`), its errors page by page for
notebooks (`error_pages`), the sheet and annotations as files
(`sheet_export`, `annotation_export`), two runs compared (`compare`), what a lead
watches (`dashboard`) and which module of a pipeline a run's errors are blamed on
(`pipeline`).

`tally` is plain arithmetic, imports nothing of the app but its translation layer
(`app.i18n`, for its advice), and any package may use it.
The rest may import `accounts`, `projects` and `review`.
"""
