"""The accounts a local stack creates for its operators, named once: `devstack.stack` makes
identity create the administrator at start-up, and the load generator logs in as it. A module of
its own so that the load generator's image, which runs no stack, need not import the stack's."""

from __future__ import annotations

__all__ = ["ADMIN_EMAIL"]

ADMIN_EMAIL = "admin@flotilla.local"
