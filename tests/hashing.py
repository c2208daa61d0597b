"""Cheap password hashing for the test suite, in its own process and in the servers it starts.

Production hashes at argon2's RFC 9106 cost (tests/domain/test_accounts.py pins it), which
takes a good part of a second per user on a busy two-core machine; fixtures create
thousands of users. argon2's CHEAPEST profile is meant for exactly this.
"""

from __future__ import annotations

from argon2 import PasswordHasher, profiles

from app.domain.accounts.users import use_password_hasher


def use_cheap_hashing() -> None:
    use_password_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))
