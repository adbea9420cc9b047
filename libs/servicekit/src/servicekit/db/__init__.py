"""A service's database: its engine and pool (`Database`), the request's session
(`SessionDep`, committed by servicekit, never by a handler; `ReadSessionDep` for a route that
answers from one SELECT, in autocommit), work deferred until that commit
(`after_commit`), its tables' metadata, its role and schema, its migrations, the database's
clock (`transaction_time`, `statement_time`: one clock for every deadline), PostgreSQL-only
statements compiled once (`prepared`), hot statements run on the driver below SQLAlchemy's
execution (`direct`) and the purge of old rows by retention (`RetentionPurger`)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servicekit.db.bootstrap import bootstrap_database
    from servicekit.db.clock import statement_time, transaction_time
    from servicekit.db.commit_hooks import after_commit
    from servicekit.db.direct_statements import DirectStatement, direct
    from servicekit.db.engine import Database
    from servicekit.db.migrations import run_migrations
    from servicekit.db.models import new_metadata
    from servicekit.db.retention import Retention, RetentionPurger
    from servicekit.db.session import ReadSessionDep, SessionDep, get_database
    from servicekit.db.statements import prepared

__all__ = [
    "Database",
    "DirectStatement",
    "ReadSessionDep",
    "Retention",
    "RetentionPurger",
    "SessionDep",
    "after_commit",
    "bootstrap_database",
    "direct",
    "get_database",
    "new_metadata",
    "prepared",
    "run_migrations",
    "statement_time",
    "transaction_time",
]

if not TYPE_CHECKING:
    from servicekit._exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "servicekit.db.commit_hooks": ["after_commit"],
            "servicekit.db.bootstrap": ["bootstrap_database"],
            "servicekit.db.clock": ["statement_time", "transaction_time"],
            "servicekit.db.direct_statements": ["DirectStatement", "direct"],
            "servicekit.db.engine": ["Database"],
            "servicekit.db.migrations": ["run_migrations"],
            "servicekit.db.models": ["new_metadata"],
            "servicekit.db.statements": ["prepared"],
            "servicekit.db.retention": ["Retention", "RetentionPurger"],
            "servicekit.db.session": ["ReadSessionDep", "SessionDep", "get_database"],
        },
    )
