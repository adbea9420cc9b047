"""Metadata for service tables. Each service has its own metadata (its own tables); tables
carry no schema name because the connection's search_path is the service's schema."""

from __future__ import annotations

from sqlalchemy import MetaData

__all__ = ["NAMING_CONVENTION", "new_metadata"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)
