"""Dead-letter tooling: `python -m servicekit.dlq {list,show,redrive} --group G ...`.

    list     one line per dead letter: position (partition:offset), event id, type, original
             topic, reason, when it failed, and whether it was redriven
    show     one letter in full (headers and pretty-printed payload): --event-id or --offset
    redrive  send letters back to the group that gave up on them — all pending ones, or those
             named by --event-id / --offset — through the group's first retry topic
             (`<group>.retry.1`, due at once, attempts reset), which only that group reads.
             Each redriven letter gets a marker in the DLQ, so running it again sends nothing
             unless --again. --dry-run prints what it would do and sends nothing.

Kafka security comes from the same variables a service reads (`KAFKA_SECURITY_PROTOCOL`,
`KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD_FILE`, `KAFKA_SSL_CA_FILE`): run it as the
group's own principal, which may read its DLQ and write its retry topics, or as an admin.

Exit status: 0 done, 1 a problem (broker unreachable, unknown group, no such letter), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from servicekit.events.dead_letters import (
    MARKER_KEY,
    PAYLOAD_OMITTED,
    DeadLetter,
    UnknownDeadLetterTopic,
    dlq_topic,
    read_dead_letters,
    topic_partitions,
)
from servicekit.events.kafka_security import KafkaSecurity, KafkaSecurityError
from servicekit.events.retry import retry_topic

__all__ = ["main", "run"]


class DlqError(Exception):
    """A problem to report in one line, without a traceback."""


def _as_whom(security: KafkaSecurity) -> str:
    """Which principal the tool ran as, for an error that may be one of permissions."""
    return f" that {security.username!r} may see" if security.username else ""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--group", required=True, help="the consumer group")
    common.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)",
    )
    common.add_argument("--dlq-topic", help="the group's dead-letter topic (default <group>.dlq)")
    common.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    select = argparse.ArgumentParser(add_help=False)
    select.add_argument("--event-id", action="append", default=[], help="a letter's event id")
    select.add_argument(
        "--offset", action="append", default=[], help="a letter's position, PARTITION:OFFSET"
    )
    parser = argparse.ArgumentParser(
        prog="python -m servicekit.dlq", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", parents=[common], help="one line per dead letter")
    listing.add_argument("--limit", type=int, default=100, help="show at most N (default 100)")
    sub.add_parser("show", parents=[common, select], help="one dead letter in full")
    redrive = sub.add_parser("redrive", parents=[common, select], help="send letters back")
    redrive.add_argument("--dry-run", action="store_true", help="print, send nothing")
    redrive.add_argument("--again", action="store_true", help="include letters already redriven")
    redrive.add_argument("--limit", type=int, default=None, help="redrive at most N")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # aiokafka logs connection failures itself; the one-line error below says it better.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:
        return 130


async def run(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if not args.bootstrap_servers:
        print("error: --bootstrap-servers (or KAFKA_BOOTSTRAP_SERVERS) is required", file=err)
        return 2
    try:
        args.security = KafkaSecurity.from_environment()
    except KafkaSecurityError as error:
        print(f"error: {error}", file=err)
        return 2
    topic = args.dlq_topic or dlq_topic(args.group)
    try:
        letters = await read_dead_letters(
            args.bootstrap_servers, topic, timeout_s=args.timeout, security=args.security
        )
        if args.command == "list":
            _list(letters, args.limit, out)
        elif args.command == "show":
            for letter in _select(letters, args.event_id, args.offset, required=True):
                _show(letter, out)
        else:
            await _redrive(args, topic, letters, out)
    except UnknownDeadLetterTopic:
        # The broker hides a topic the principal may not describe: say so rather than guess.
        print(
            f"error: unknown group {args.group!r}: no topic {topic!r} on {args.bootstrap_servers}"
            f"{_as_whom(args.security)}",
            file=err,
        )
        return 1
    except KafkaConnectionError as error:
        # A refused login looks the same as no broker to aiokafka: name both.
        print(
            f"error: cannot reach Kafka at {args.bootstrap_servers}: {error} (down, or it "
            f"refused {args.security.protocol}{_as_whom(args.security)})",
            file=err,
        )
        return 1
    except (KafkaError, TimeoutError, OSError) as error:
        print(f"error: {args.command}: {type(error).__name__}: {error}", file=err)
        return 1
    except DlqError as error:
        print(f"error: {error}", file=err)
        return 1
    except Exception as error:  # an operator tool answers in one line, never a traceback
        print(f"error: {args.command} failed: {type(error).__name__}: {error}", file=err)
        return 1
    return 0


def _list(letters: list[DeadLetter], limit: int, out: TextIO) -> None:
    shown = letters[: max(0, limit)]
    rows = [("POSITION", "EVENT_ID", "TYPE", "ORIGINAL_TOPIC", "REASON", "FAILED_AT", "STATUS")]
    rows += [
        (
            letter.position,
            letter.event_id or "-",
            letter.event_type or "-",
            letter.original_topic or "-",
            letter.reason or "-",
            letter.failed_at or "-",
            f"redriven {letter.redriven_at[-1]}" if letter.redriven_at else "pending",
        )
        for letter in shown
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[-1],
            file=out,
        )
    pending = sum(1 for letter in letters if not letter.redriven_at)
    more = f", showing the first {len(shown)}" if len(shown) < len(letters) else ""
    print(f"{len(letters)} dead letter(s), {pending} not redriven{more}", file=out)


def _show(letter: DeadLetter, out: TextIO) -> None:
    status = f"redriven at {', '.join(letter.redriven_at)}" if letter.redriven_at else "pending"
    print(f"position   {letter.position}", file=out)
    print(f"key        {(letter.key or b'').decode(errors='replace')}", file=out)
    print(f"status     {status}", file=out)
    print("headers", file=out)
    for name, value in letter.headers:
        print(f"  {name}: {value.decode(errors='replace')}", file=out)
    print("payload", file=out)
    omitted = letter.header(PAYLOAD_OMITTED)
    if omitted or letter.value is None:
        print(f"  (omitted: {omitted} bytes)" if omitted else "  (none)", file=out)
    else:
        try:
            print(json.dumps(json.loads(letter.value), indent=2, ensure_ascii=False), file=out)
        except ValueError:
            text = letter.value[:4096].decode(errors="replace")
            print(f"  (not JSON, {len(letter.value)} bytes) {text!r}", file=out)
    print(file=out)


def _select(
    letters: list[DeadLetter], event_ids: list[str], offsets: list[str], *, required: bool
) -> list[DeadLetter]:
    if not event_ids and not offsets:
        if required:
            raise DlqError("name a letter with --event-id or --offset")
        return letters
    positions = set()
    for offset in offsets:
        partition, sep, number = offset.rpartition(":")
        if not number.isdigit() or (sep and not partition.isdigit()):
            raise DlqError(f"--offset {offset!r}: expected PARTITION:OFFSET or OFFSET")
        matches = [
            letter.position
            for letter in letters
            if letter.offset == int(number) and (not sep or letter.partition == int(partition))
        ]
        if len(matches) > 1:
            raise DlqError(f"--offset {offset!r} is ambiguous ({', '.join(matches)}): use P:O")
        if not matches:
            raise DlqError(f"no dead letter at {offset}")
        positions.update(matches)
    for event_id in event_ids:
        if not any(letter.event_id == event_id for letter in letters):
            raise DlqError(f"no dead letter with event id {event_id!r}")
    return [
        letter for letter in letters if letter.position in positions or letter.event_id in event_ids
    ]


async def _redrive(
    args: argparse.Namespace, topic: str, letters: list[DeadLetter], out: TextIO
) -> None:
    target = retry_topic(args.group, 1)
    if target not in await topic_partitions(
        args.bootstrap_servers, [target], security=args.security
    ):
        raise DlqError(f"group {args.group!r} has no retry topic {target!r} to redrive through")
    chosen = []
    for letter in _select(letters, args.event_id, args.offset, required=False):
        if letter.redriven_at and not args.again:
            when = letter.redriven_at[-1]
            print(
                f"skip     {letter.position} {letter.event_id}: redriven at {when} (--again)",
                file=out,
            )
        elif letter.payload_omitted:
            print(
                f"skip     {letter.position} {letter.event_id}: its payload was too large to keep",
                file=out,
            )
        else:
            chosen.append(letter)
    if args.limit is not None:
        chosen = chosen[: max(0, args.limit)]
    if not chosen:
        print("nothing to redrive", file=out)
        return
    if args.dry_run:
        for letter in chosen:
            print(
                f"would redrive {letter.position} {letter.event_id} ({letter.event_type})"
                f" -> {target}",
                file=out,
            )
        print(f"dry run: {len(chosen)} letter(s) would be redriven; nothing sent", file=out)
        return
    producer = AIOKafkaProducer(
        bootstrap_servers=args.bootstrap_servers,
        client_id="flotilla-dlq-redrive",
        acks="all",
        enable_idempotence=True,
        max_request_size=16 * 1024 * 1024,
        **args.security.client_options(),
    )
    try:
        await producer.start()  # stopped below even when it fails
        for letter in chosen:
            sent = await producer.send_and_wait(
                target, value=letter.value, key=letter.key, headers=letter.redrive_headers(topic)
            )
            where = f"{sent.topic}:{sent.partition}:{sent.offset}"
            # The marker follows only once the copy is acknowledged: a crash in between
            # leaves the letter pending, and a second copy is deduplicated by the inbox.
            await producer.send_and_wait(
                topic,
                value=None,
                key=MARKER_KEY,
                partition=letter.partition,
                headers=letter.marker_headers(where),
            )
            print(
                f"redriven {letter.position} {letter.event_id} ({letter.event_type}) -> {where}",
                file=out,
            )
    finally:
        await producer.stop()
    print(f"{len(chosen)} letter(s) redriven to {target}", file=out)


if __name__ == "__main__":
    sys.exit(main())
