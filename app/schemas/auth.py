"""The API token a script signs in for (POST /auth/token)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


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
