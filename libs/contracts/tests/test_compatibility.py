"""The backward-compatibility check: one test per rule, each showing the check fails for the
breaking change (and passes for the compatible ones)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

import pytest
from pydantic import BaseModel, Field

from contracts.artifacts import event_schema
from contracts.base import Event
from contracts.checks import incompatible_changes

pytestmark = pytest.mark.unit

TYPE = "orders.order.placed.v1"


class Line(BaseModel):
    sku: str
    quantity: int


class PlacedV1(Event):
    """The published version every test changes."""

    EVENT_TYPE: ClassVar[str] = TYPE
    TOPIC: ClassVar[str] = "orders.order"
    SUBJECT_FIELD: ClassVar[str] = "order_id"

    order_id: str
    total_cents: int
    channel: Literal["web", "app"]
    placed_at: datetime
    lines: list[Line]
    note: str | None = None


def check(new: type[Event], old: type[Event] = PlacedV1) -> list[str]:
    """The `check` command's compatibility step, with `old` as the published schema."""
    return incompatible_changes({TYPE: new}, published=lambda _: event_schema(old))


def test_unchanged_schema_passes() -> None:
    assert check(PlacedV1) == []


def test_adding_an_optional_field_passes() -> None:
    class Placed(PlacedV1):
        coupon: str | None = Field(default=None, description="A coupon code, when one was used.")

    assert check(Placed) == []


def test_removing_an_optional_field_passes() -> None:
    class Placed(Event):
        EVENT_TYPE: ClassVar[str] = TYPE
        TOPIC: ClassVar[str] = "orders.order"
        SUBJECT_FIELD: ClassVar[str] = "order_id"

        order_id: str
        total_cents: int
        channel: Literal["web", "app"]
        placed_at: datetime
        lines: list[Line]

    assert check(Placed) == []


def test_changing_descriptions_and_titles_passes() -> None:
    class Placed(PlacedV1):
        """Now better documented."""

        total_cents: int = Field(description="The total, in cents.", title="Total")

    assert check(Placed) == []


def test_removing_a_required_field_fails() -> None:
    class Placed(Event):
        EVENT_TYPE: ClassVar[str] = TYPE
        TOPIC: ClassVar[str] = "orders.order"
        SUBJECT_FIELD: ClassVar[str] = "order_id"

        order_id: str
        channel: Literal["web", "app"]
        placed_at: datetime
        lines: list[Line]
        note: str | None = None

    (problem,) = check(Placed)
    assert "`total_cents`: required property removed" in problem
    assert "Publish it as orders.order.placed.v2 beside orders.order.placed.v1" in problem


def test_adding_a_required_field_fails() -> None:
    class Placed(PlacedV1):
        currency: str

    (problem,) = check(Placed)
    assert "`currency`: new property made required (old data does not have it)" in problem


def test_making_an_optional_field_required_fails() -> None:
    class Placed(PlacedV1):
        note: str  # type: ignore[assignment]

    problems = check(Placed)
    assert any("`note`: optional property made required" in p for p in problems)


def test_making_a_required_field_optional_fails() -> None:
    class Placed(PlacedV1):
        total_cents: int | None = None  # type: ignore[assignment]

    problems = check(Placed)
    assert any("`total_cents`: required property made optional" in p for p in problems)


def test_changing_a_type_fails() -> None:
    class Placed(PlacedV1):
        total_cents: str  # type: ignore[assignment]

    (problem,) = check(Placed)
    assert "`total_cents`: type changed from integer to string" in problem


def test_widening_a_type_fails() -> None:
    class Placed(PlacedV1):
        total_cents: float  # type: ignore[assignment]

    (problem,) = check(Placed)
    assert "`total_cents`: type changed from integer to number" in problem


def test_changing_a_type_inside_a_union_fails() -> None:
    class Placed(PlacedV1):
        note: int | None = None  # type: ignore[assignment]

    (problem,) = check(Placed)
    assert "`note<anyOf[0]>`: type changed from string to integer" in problem


def test_removing_an_enum_value_fails() -> None:
    class Placed(PlacedV1):
        channel: Literal["web"]  # type: ignore[assignment]

    (problem,) = check(Placed)
    assert '`channel`: enum value "app" removed' in problem


def test_adding_an_enum_value_fails() -> None:
    class Placed(PlacedV1):
        channel: Literal["web", "app", "phone"]  # type: ignore[assignment]

    (problem,) = check(Placed)
    assert '`channel`: enum value "phone" added (old consumers reject it)' in problem


def test_changing_a_format_fails() -> None:
    class Placed(PlacedV1):
        placed_at: str  # type: ignore[assignment]

    (problem,) = check(Placed)
    assert "`placed_at`: format changed from 'date-time' to None" in problem


def test_tightening_a_constraint_fails() -> None:
    class Placed(PlacedV1):
        order_id: str = Field(pattern=r"^ord_")

    (problem,) = check(Placed)
    assert "`order_id`: pattern changed from None to '^ord_'" in problem


def test_changing_a_nested_object_through_defs_fails() -> None:
    class WideLine(BaseModel):
        sku: str
        quantity: float

    class Placed(PlacedV1):
        lines: list[WideLine]  # type: ignore[assignment]

    (problem,) = check(Placed)
    assert "`lines[].quantity`: type changed from integer to number" in problem


def test_adding_a_required_field_to_a_nested_object_fails() -> None:
    class RicherLine(BaseModel):
        sku: str
        quantity: int
        unit_cents: int

    class Placed(PlacedV1):
        lines: list[RicherLine]  # type: ignore[assignment]

    (problem,) = check(Placed)
    assert "`lines[].unit_cents`: new property made required" in problem


def test_changing_an_array_item_type_fails() -> None:
    class Placed(PlacedV1):
        lines: list[str]  # type: ignore[assignment]

    (problem,) = check(Placed)
    assert "`lines[]`: type changed from object to string" in problem


def test_recursive_models_are_compared_without_looping() -> None:
    class Category(BaseModel):
        name: str
        children: list[Category] = []

    class TreeV1(Event):
        EVENT_TYPE: ClassVar[str] = TYPE
        TOPIC: ClassVar[str] = "orders.order"
        SUBJECT_FIELD: ClassVar[str] = "name"

        name: str
        root: Category

    assert check(TreeV1, old=TreeV1) == []


def test_a_new_event_type_has_nothing_to_be_compatible_with() -> None:
    assert incompatible_changes({TYPE: PlacedV1}, published=lambda _: None) == []


def test_changing_the_value_type_of_a_mapping_fails() -> None:
    class TaggedV1(PlacedV1):
        tags: dict[str, str] = Field(default_factory=dict)

    class Tagged(PlacedV1):
        tags: dict[str, int] = Field(default_factory=dict)

    (problem,) = check(Tagged, old=TaggedV1)
    assert "`tags{*}`: type changed from string to integer" in problem


def test_narrowing_an_untyped_list_fails() -> None:
    class LooseV1(PlacedV1):
        extras: list[Any] = Field(default_factory=list)

    class Strict(PlacedV1):
        extras: list[str] = Field(default_factory=list)

    (problem,) = check(Strict, old=LooseV1)
    assert "`extras[]`: type changed from any to string" in problem
