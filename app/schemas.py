"""Pydantic shapes of the JSON API (and only of the API)."""

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


class TokenIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "username": "ada",
                "password": "correct horse battery",
                "name": "laptop notebook",
            }
        }
    )

    username: str
    password: str
    name: str


class TokenOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"token": "eyb_3q2…", "name": "laptop notebook", "id": 4}}
    )

    token: str
    name: str
    id: int
