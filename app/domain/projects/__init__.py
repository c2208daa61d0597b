"""Projects: who may reach one and in which role (`access`), starting, editing and
archiving one (`settings`), its runs (`runs`), its team (`team`), its causes
(`causes`) and its pipeline of modules, blamed through causes (`pipeline`).

May import `accounts`; `causes` uses `review.annotations` to rewrite annotations when
causes merge, and `runs` reads progress from `review.status`.
"""
