"""PostgreSQL-only statements that SQLAlchemy compiles once instead of on every execution.

SQLAlchemy caches the compiled form of a statement by its structure, except for constructs that
opt out: `sqlalchemy.dialects.postgresql.insert` does (`inherit_cache = False`), so every
`insert(...).on_conflict_do_nothing/update(...)` was compiled again each time it ran. (The
saga's own such statements, the inbox's claim first, now run on the driver and are compiled
once by `servicekit.db.direct`; `prepared` is for one that stays on the session.)

`prepared(statement)` compiles such a statement once, at import, into a `text()` clause with
the same SQL, the same typed bound parameters and the same result columns; a `text()` clause is
cached like any other. The statement is written with `bindparam("name")` for every value that
changes per execution, and executed with those names:

    _UPSERT = prepared(
        insert(USERS).values(email=bindparam("email"), ...).on_conflict_do_nothing(...)
    )
    await session.execute(_UPSERT, {"email": ..., ...})
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, bindparam, text
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import TextualSelect

__all__ = ["frozen_binds", "prepared"]

# Named parameters (`:name`) are what text() parses; any PostgreSQL driver dialect turns them
# into its own style when the clause runs.
_NAMED_POSTGRESQL = PGDialect(paramstyle="named")  # type: ignore[no-untyped-call]


def prepared(statement: UpdateBase) -> TextClause | TextualSelect:
    """The statement's SQL as a cacheable text() clause, its bound parameters typed as in the
    statement and its RETURNING columns (if any) as the result's columns.

    Raises ValueError for a value given as a literal instead of a named `bindparam` (it would be
    frozen into the clause; write `null()` for a constant NULL), or SQL with a colon of its own
    (other than a `::` cast) that text() would misread as a parameter.
    """
    compiled = statement.compile(dialect=_NAMED_POSTGRESQL)
    frozen = frozen_binds(compiled)
    if frozen:
        raise ValueError(f"prepared(): bind {', '.join(frozen)} with bindparam(name), not a value")
    names = {name: bind.type for bind, name in compiled.bind_names.items()}
    sql = compiled.string
    unparsed = sql.replace("::", "")  # casts, e.g. `:headers::JSONB`, escaped below
    for name in names:
        unparsed = unparsed.replace(f":{name}", "")
    if ":" in unparsed:
        raise ValueError(f"prepared(): the SQL has a colon text() would misread: {sql}")
    clause = text(sql.replace("::", r"\:\:")).bindparams(
        *(bindparam(name, type_=type_) for name, type_ in names.items())
    )
    declared = statement._returning
    returning: list[ColumnElement[Any]] = [
        column for column in declared if isinstance(column, ColumnElement)
    ]
    if len(returning) != len(declared):
        raise ValueError("prepared(): RETURNING takes columns, not a table or text")
    return clause.columns(*returning) if returning else clause


def frozen_binds(compiled: SQLCompiler) -> list[str]:
    """The binds of literal values in `compiled`: each compiles to a unique, anonymous bind
    whose value would be frozen into SQL compiled once."""
    return sorted(name for bind, name in compiled.bind_names.items() if bind.unique)
