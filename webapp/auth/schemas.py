"""Accounts' JSON bodies: who an API token belongs to."""

from __future__ import annotations

from typing import Literal

from webapp.schemas import DatabaseId, Schema


class Me(Schema):
    id: DatabaseId
    email: str
    name: str
    role: Literal["admin", "staff"]
