"""Is a new JSON Schema of a published event type backward compatible with the old one?

Events stay on their topic for its whole retention and are replayed, retried and redriven, and
producers and consumers deploy independently. So a change within one major version must keep
both directions working:

- a consumer built for the old schema reads data valid under the new one (the producer
  deployed first), and
- a consumer built for the new schema reads data already on the topic, written under the old
  one.

Consumers are tolerant readers: properties they do not know are ignored. Within that, the
rules below apply to the event object and, recursively, to every schema nested in it through
`properties`, `items`, `prefixItems`, `additionalProperties`, `anyOf`/`oneOf`/`allOf` and
`$ref` (into `$defs`). Each names what it protects:

1. **required property removed** - old consumers rely on it.
2. **required property added**, new or formerly optional - old data does not have it.
3. **required property made optional** - old consumers rely on it being there.
4. **type changed**, narrowed or widened (including `integer` → `number` and adding `null`):
   `type` is compared as a set, and a union (`anyOf`/`oneOf`/`allOf`) must keep the same
   branches, compared in order.
5. **enum value removed** (`enum`, or `const` as a one-value enum) - old data carries it.
   **Enum value added** - old consumers reject it (a pydantic `Literal` does). Adding or
   dropping the restriction altogether counts the same.
6. **format changed** (`date-time`, `email`, ...) - a format is a type in disguise.
7. **constraint changed** (`pattern`, `minLength`, `maximum`, `multipleOf`, `minItems`, ...) -
   tightening rejects old data, loosening breaks old consumers.

Compatible: adding an optional property; removing an optional property (tolerant readers
ignore it on old data; do not reuse its name later with another type); changing annotations
(`title`, `description`, `examples`, `default`, `$comment`); opening or closing
`additionalProperties: true/false`. A breaking change is published as a new major version
(`….v2`) beside the old one until its consumers have moved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["breaking_changes"]

Schema = Mapping[str, Any]

_CONSTRAINTS = (
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "contentEncoding",
    "contentMediaType",
)
_UNIONS = ("anyOf", "oneOf", "allOf")


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Every incompatible difference from `old` to `new`; empty when the change is compatible."""
    comparison = _Comparison(old, new)
    comparison.compare(old, new, "")
    return comparison.problems


class _Comparison:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.problems: list[str] = []
        self._in_progress: set[tuple[str, str]] = set()

    def compare(self, old: Any, new: Any, path: str) -> None:
        if not isinstance(old, Mapping) or not isinstance(new, Mapping):
            if old != new:  # boolean schemas (`true` / `false`)
                self._report(path, f"schema changed from {_show(old)} to {_show(new)}")
            return
        refs = (str(old.get("$ref", "")), str(new.get("$ref", "")))
        if refs == ("", ""):
            self._compare_resolved(old, new, path)
            return
        if refs in self._in_progress:
            return  # a recursive model: this pair is already being compared further up
        self._in_progress.add(refs)
        try:
            self._compare_resolved(_resolve(old, self.old_root), _resolve(new, self.new_root), path)
        finally:
            self._in_progress.discard(refs)

    def _compare_resolved(self, old: Schema, new: Schema, path: str) -> None:
        if _types(old) != _types(new) or _union_sizes(old) != _union_sizes(new):
            self._report(path, f"type changed from {_show(old)} to {_show(new)}")
            return
        for keyword in _UNIONS:
            for index, (o, n) in enumerate(
                zip(old.get(keyword, ()), new.get(keyword, ()), strict=True)
            ):
                self.compare(o, n, f"{path}<{keyword}[{index}]>")
        self._compare_values(old, new, path)
        if old.get("format") != new.get("format"):
            self._report(
                path, f"format changed from {old.get('format')!r} to {new.get('format')!r}"
            )
        for keyword in _CONSTRAINTS:
            if old.get(keyword) != new.get(keyword):
                self._report(
                    path, f"{keyword} changed from {old.get(keyword)!r} to {new.get(keyword)!r}"
                )
        self._compare_properties(old, new, path)
        self._compare_items(old, new, path)

    def _compare_values(self, old: Schema, new: Schema, path: str) -> None:
        old_values, new_values = _allowed_values(old), _allowed_values(new)
        if old_values is None and new_values is None:
            return
        if old_values is None or new_values is None:
            before = "any value" if old_values is None else f"only {sorted(old_values)}"
            after = "any value" if new_values is None else f"only {sorted(new_values)}"
            self._report(path, f"allowed values changed from {before} to {after}")
            return
        for value in sorted(old_values - new_values):
            self._report(path, f"enum value {value} removed")
        for value in sorted(new_values - old_values):
            self._report(path, f"enum value {value} added (old consumers reject it)")

    def _compare_properties(self, old: Schema, new: Schema, path: str) -> None:
        old_props: Mapping[str, Any] = old.get("properties", {})
        new_props: Mapping[str, Any] = new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        for name in sorted(old_required | new_required):
            where = _join(path, name)
            if name in old_required and name not in new_props:
                self._report(where, "required property removed")
            elif name in old_required and name not in new_required:
                self._report(where, "required property made optional")
            elif name in new_required and name not in old_required:
                was = "optional property" if name in old_props else "new property"
                self._report(where, f"{was} made required (old data does not have it)")
        for name in sorted(old_props.keys() & new_props.keys()):
            self.compare(old_props[name], new_props[name], _join(path, name))
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        closed = old_extra is False or new_extra is False  # tolerant readers ignore extra keys
        if not closed and (isinstance(old_extra, Mapping) or isinstance(new_extra, Mapping)):
            self.compare(_anything(old_extra), _anything(new_extra), f"{path}{{*}}")

    def _compare_items(self, old: Schema, new: Schema, path: str) -> None:
        old_tuple, new_tuple = old.get("prefixItems", []), new.get("prefixItems", [])
        if len(old_tuple) != len(new_tuple):
            self._report(path, f"tuple length changed from {len(old_tuple)} to {len(new_tuple)}")
        for index, (o, n) in enumerate(zip(old_tuple, new_tuple, strict=False)):
            self.compare(o, n, f"{path}[{index}]")
        if "items" in old or "items" in new:
            self.compare(_anything(old.get("items")), _anything(new.get("items")), f"{path}[]")

    def _report(self, path: str, problem: str) -> None:
        self.problems.append(f"`{path or '(event)'}`: {problem}")


def _resolve(schema: Schema, root: Schema) -> Schema:
    """Follow a local `$ref` (`#/$defs/Address`); keywords beside it win over the target's."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    target: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, Mapping) or part not in target:
            raise ValueError(f"unresolvable $ref {ref!r}")
        target = target[part]
    siblings = {key: value for key, value in schema.items() if key != "$ref"}
    return {**_resolve(target, root), **siblings}


def _anything(schema: Any) -> Any:
    """`true` or an absent subschema accepts any value: the empty schema."""
    return {} if schema is None or schema is True else schema


def _types(schema: Schema) -> frozenset[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    return frozenset([declared] if isinstance(declared, str) else declared)


def _union_sizes(schema: Schema) -> tuple[int, ...]:
    return tuple(len(schema.get(keyword, ())) for keyword in _UNIONS)


def _allowed_values(schema: Schema) -> set[str] | None:
    """`enum` and `const` as canonical JSON texts (values may be objects or lists)."""
    if "enum" in schema:
        return {json.dumps(value, sort_keys=True) for value in schema["enum"]}
    if "const" in schema:
        return {json.dumps(schema["const"], sort_keys=True)}
    return None


def _show(schema: Any) -> str:
    """A short human form of a schema's type: `string`, `integer|null`, `array of string`."""
    if not isinstance(schema, Mapping):
        return json.dumps(schema)
    for keyword in _UNIONS:
        if keyword in schema:
            return "|".join(_show(branch) for branch in schema[keyword])
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    types = _types(schema)
    if types is None:
        return "any"
    shown = "|".join(sorted(types))
    if types == {"array"} and isinstance(schema.get("items"), Mapping):
        shown += f" of {_show(schema['items'])}"
    return shown


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
