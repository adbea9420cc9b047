"""A service's database: its engine and pool (`Database`), the request's session
(`SessionDep`, committed by servicekit, never by a handler), work deferred until that commit
(`after_commit`), its tables' metadata, its role and schema, and its migrations."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servicekit.db.bootstrap import bootstrap_database
    from servicekit.db.commit_hooks import after_commit
    from servicekit.db.engine import Database
    from servicekit.db.migrations import run_migrations
    from servicekit.db.models import new_metadata
    from servicekit.db.session import SessionDep, get_database

__all__ = [
    "Database",
    "SessionDep",
    "after_commit",
    "bootstrap_database",
    "get_database",
    "new_metadata",
    "run_migrations",
]

if not TYPE_CHECKING:
    from servicekit._exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "servicekit.db.commit_hooks": ["after_commit"],
            "servicekit.db.bootstrap": ["bootstrap_database"],
            "servicekit.db.engine": ["Database"],
            "servicekit.db.migrations": ["run_migrations"],
            "servicekit.db.models": ["new_metadata"],
            "servicekit.db.session": ["SessionDep", "get_database"],
        },
    )
