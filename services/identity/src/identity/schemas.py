"""The HTTP contract of identity (what OpenAPI shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

__all__ = ["NewUser", "TokenRequest", "TokenResponse", "UserOut"]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=320)
    # Exactly as typed: a login compares it as typed, so stripping here (as sign-up once did)
    # made an account whose password has surrounding spaces impossible to log in to.
    password: str = Field(min_length=10, max_length=256)
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class UserOut(BaseModel):
    id: str = Field(examples=["usr_01jz3k8w6x9a2b4c5d6e7f8g9h"])
    email: str
    name: str
    created_at: datetime


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Not EmailStr: a login only looks an address up; any string that is not one fails as 401.
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int
