"""Accounts: users and their passwords (`users`), API tokens, what admins do to accounts
(`admin`), and site-wide settings (`site`).

Imports only the shared domain modules and `app.models`.
"""
