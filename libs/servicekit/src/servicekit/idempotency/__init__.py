"""HTTP idempotency keys for every mutating route; see `route.IdempotentRoute`."""

from servicekit.idempotency.purge import IdempotencyPurger
from servicekit.idempotency.records import (
    IDEMPOTENCY_RECORDS,
    add_idempotency_table,
    create_idempotency_table,
    drop_idempotency_table,
)
from servicekit.idempotency.route import (
    IDEMPOTENCY_KEY_HEADER,
    REPLAYED_HEADER,
    IdempotentRoute,
    idempotency_exempt,
    unguarded_mutating_routes,
)

__all__ = [
    "IDEMPOTENCY_KEY_HEADER",
    "IDEMPOTENCY_RECORDS",
    "REPLAYED_HEADER",
    "IdempotencyPurger",
    "IdempotentRoute",
    "add_idempotency_table",
    "create_idempotency_table",
    "drop_idempotency_table",
    "idempotency_exempt",
    "unguarded_mutating_routes",
]
