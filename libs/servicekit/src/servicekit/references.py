"""Resolving a manifest's `module:attribute` references to the objects they name.

contracts.manifest checks only their shape; here they are imported, so a reference that does
not import, names nothing, or names the wrong kind of thing fails where the app is built, with
a `ManifestError` naming the manifest, the key and the reference — not later, as an
AttributeError in a lifespan or a TypeError inside FastAPI.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from contracts.manifest import ManifestError

__all__ = ["Reference", "resolve", "resolve_callable", "resolve_instance", "resolve_subclass"]

T = TypeVar("T")


class Reference:
    """One reference of one manifest: where it is written, for every message about it."""

    def __init__(self, source: str, key: str, reference: str) -> None:
        self.source = source
        self.key = key
        self.reference = reference

    def error(self, problem: str) -> ManifestError:
        return ManifestError(f"{self.source}: {self.key}: {self.reference!r} {problem}")


def resolve(where: Reference) -> object:
    """The object `where.reference` names; a ManifestError when it does not import or exist."""
    module_name, _, attributes = where.reference.partition(":")
    try:
        value: object = importlib.import_module(module_name)
    except ImportError as error:
        # The module itself, or something it imports: the message says which.
        raise where.error(f"does not import: {type(error).__name__}: {error}") from error
    for attribute in attributes.split("."):
        try:
            value = getattr(value, attribute)
        except AttributeError:
            raise where.error(f"names nothing: {module_name} has no {attributes!r}") from None
    return value


def resolve_instance(where: Reference, kind: type[T]) -> T:
    value = resolve(where)
    if not isinstance(value, kind):
        raise where.error(f"is {_kind_of(value)}, not a {kind.__module__}.{kind.__name__}")
    return value


def resolve_subclass(where: Reference, base: type[T]) -> type[T]:
    value = resolve(where)
    if not (inspect.isclass(value) and issubclass(value, base)):
        raise where.error(f"is {_kind_of(value)}, not a subclass of {base.__name__}")
    return value


def resolve_callable(where: Reference, *, coroutine: bool = False) -> Callable[..., Any]:
    """A function (an `async def` one when `coroutine`); a class is refused: the manifest
    names factories and commands, and a class's constructor is neither."""
    value = resolve(where)
    if inspect.isclass(value) or not callable(value):
        raise where.error(f"is {_kind_of(value)}, not a function")
    if coroutine and not inspect.iscoroutinefunction(value):
        raise where.error("is not an `async def` function")
    return value


def _kind_of(value: object) -> str:
    """`a class (Crane)`, `a module`, `an APIRouter`, `a list`."""
    if inspect.isclass(value):
        return f"a class ({value.__name__})"
    kind = "module" if inspect.ismodule(value) else type(value).__name__
    return f"{'an' if kind[0].lower() in 'aeiou' else 'a'} {kind}"
