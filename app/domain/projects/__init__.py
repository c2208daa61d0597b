"""Projects: who may reach one and in which role (`access`), starting, editing and
archiving one (`settings`), its runs (`runs`), its team (`team`) and its causes
(`causes`).

May import `accounts`; `causes` uses `review.annotations` to rewrite annotations when
causes merge, and `runs` reads progress from `review.status`.
"""
