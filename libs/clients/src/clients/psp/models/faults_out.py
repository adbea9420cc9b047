from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="FaultsOut")


@_attrs_define
class FaultsOut:
    """
    Attributes:
        latency_ms (int):
        error_rate (float):
        decline_rate (float):
        outage (bool):
        lose_answer_rate (float):
    """

    latency_ms: int
    error_rate: float
    decline_rate: float
    outage: bool
    lose_answer_rate: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        latency_ms = self.latency_ms

        error_rate = self.error_rate

        decline_rate = self.decline_rate

        outage = self.outage

        lose_answer_rate = self.lose_answer_rate

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "latency_ms": latency_ms,
                "error_rate": error_rate,
                "decline_rate": decline_rate,
                "outage": outage,
                "lose_answer_rate": lose_answer_rate,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        latency_ms = d.pop("latency_ms")

        error_rate = d.pop("error_rate")

        decline_rate = d.pop("decline_rate")

        outage = d.pop("outage")

        lose_answer_rate = d.pop("lose_answer_rate")

        faults_out = cls(
            latency_ms=latency_ms,
            error_rate=error_rate,
            decline_rate=decline_rate,
            outage=outage,
            lose_answer_rate=lose_answer_rate,
        )

        faults_out.additional_properties = d
        return faults_out

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
