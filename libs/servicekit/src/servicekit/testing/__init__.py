"""What services' tests share: tokens signed by a test key ring and an in-process client that
verifies them (`tokens`), and reading what reached Kafka (`events`)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servicekit.testing.events import Record, committed_offset, eventually, read_topic
    from servicekit.testing.tokens import AUDIENCE, ISSUER, bearer, in_process_client, new_key_ring

__all__ = [
    "AUDIENCE",
    "ISSUER",
    "Record",
    "bearer",
    "committed_offset",
    "eventually",
    "in_process_client",
    "new_key_ring",
    "read_topic",
]

if not TYPE_CHECKING:
    from servicekit._exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "servicekit.testing.events": ["Record", "committed_offset", "eventually", "read_topic"],
            "servicekit.testing.tokens": [
                "AUDIENCE",
                "ISSUER",
                "bearer",
                "in_process_client",
                "new_key_ring",
            ],
        },
    )
