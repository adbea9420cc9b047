from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="FaultsIn")


@_attrs_define
class FaultsIn:
    """The whole set of knobs; an omitted knob is off.

    Attributes:
        latency_ms (int | Unset): Added before each charge or refund is decided. Default: 0.
        error_rate (float | Unset): The fraction of charges and refunds answered 500 (nothing recorded). Default: 0.0.
        decline_rate (float | Unset): The fraction of approvable charges declined as `card_declined`. Default: 0.0.
        outage (bool | Unset): Every charge and refund answers 503 with Retry-After. Default: False.
        lose_answer_rate (float | Unset): The fraction of charges and refunds (replays included) that are recorded but
            answered 500, as if the answer were lost on its way back: only a retry with the same Idempotency-Key (or a look-
            up by it) finds out what happened. Default: 0.0.
    """

    latency_ms: int | Unset = 0
    error_rate: float | Unset = 0.0
    decline_rate: float | Unset = 0.0
    outage: bool | Unset = False
    lose_answer_rate: float | Unset = 0.0

    def to_dict(self) -> dict[str, Any]:
        latency_ms = self.latency_ms

        error_rate = self.error_rate

        decline_rate = self.decline_rate

        outage = self.outage

        lose_answer_rate = self.lose_answer_rate

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if latency_ms is not UNSET:
            field_dict["latency_ms"] = latency_ms
        if error_rate is not UNSET:
            field_dict["error_rate"] = error_rate
        if decline_rate is not UNSET:
            field_dict["decline_rate"] = decline_rate
        if outage is not UNSET:
            field_dict["outage"] = outage
        if lose_answer_rate is not UNSET:
            field_dict["lose_answer_rate"] = lose_answer_rate

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        latency_ms = d.pop("latency_ms", UNSET)

        error_rate = d.pop("error_rate", UNSET)

        decline_rate = d.pop("decline_rate", UNSET)

        outage = d.pop("outage", UNSET)

        lose_answer_rate = d.pop("lose_answer_rate", UNSET)

        faults_in = cls(
            latency_ms=latency_ms,
            error_rate=error_rate,
            decline_rate=decline_rate,
            outage=outage,
            lose_answer_rate=lose_answer_rate,
        )

        return faults_in
