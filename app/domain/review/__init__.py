"""Review: a run's progress (`status`, counting the stored verdicts of `domain.verdicts`),
which error an annotator sees next (`queue`), the one write path for annotations
(`annotations`), what the review screen does around it (`screen`),
and a lead's adjudication (`adjudication`).

May import `accounts`, `projects` and the plain arithmetic of `analysis.tally`.
"""
