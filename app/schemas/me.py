"""The caller's account (GET /me); also what creating a user answers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from app.models import User


class UserOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"username": "ada", "display_name": "Ada L.", "admin": False}}
    )

    username: str
    display_name: str
    admin: bool

    @classmethod
    def from_user(cls, user: User) -> UserOut:
        return cls(username=user.username, display_name=user.display_name, admin=user.is_admin)
