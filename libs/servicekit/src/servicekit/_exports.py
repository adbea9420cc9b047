"""Lazy re-exports for servicekit's facade modules (`servicekit`, `servicekit.events`, …).

A facade imports what it exports only when a name is first read (PEP 562), not when the
package is imported: servicekit's own modules import each other's packages (settings needs
`events.kafka_security`, the consumer needs `settings`), so a facade that imported everything
eagerly would put a cycle in front of every import. Type checkers read the facade's
`if TYPE_CHECKING:` imports instead, and `libs/servicekit/tests/test_public_api.py` checks
that every exported name resolves to the object its source module defines.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence

__all__ = ["lazy_exports"]


def lazy_exports(package: str, sources: Mapping[str, Sequence[str]]) -> Callable[[str], object]:
    """A module `__getattr__` for `package` that finds each name in its source module."""
    where = {name: module for module, names in sources.items() for name in names}

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # the next read skips this function
        return value

    return __getattr__
