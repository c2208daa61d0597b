"""Review: an error's status and a run's progress (`status`, the one definition of done),
which error an annotator sees next (`queue`), the one write path for annotations
(`annotations`), what the review screen does around it (`screen`),
and a lead's adjudication (`adjudication`).

May import `accounts`, `projects` and the plain arithmetic of `analysis.tally`.
"""
