"""An SMTP server that delivers every message into a folder, one `.eml` file each.

It stands for the outside world's mail servers in the local stack and in tests: services send
real SMTP to it, and tests read what arrived with `read_messages(folder)`. It accepts any
sender and recipient, so it listens on a loopback address only.

    python -m devstack.smtp_sink --host 127.0.0.1 --port 2525 --maildir .run/local/mail

runs it as a managed background process (SIGTERM or SIGINT stops it cleanly); in-process,
`with SmtpSink(folder, port) as sink: ...` runs it on a thread of its own. In the dev cluster
(the umbrella chart's devInfra, image deploy/images/smtp-sink) it runs with `--pod`: inside a
pod's own network namespace it listens on the pod's addresses, reachable only through the
cluster's network, so that the notifications pods can send to it. It needs only the standard
library and aiosmtpd, so the image runs this file alone.

Each file is the message as received, with LF line endings, preceded by `Return-Path` and
`X-Envelope-To` headers carrying the SMTP envelope. Files are written under a temporary name
and renamed, so a reader never sees half a message; their names sort in arrival order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import ipaddress
import itertools
import logging
import os
import signal
import sys
import time
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["MaildirHandler", "SmtpSink", "main", "read_messages"]

log = logging.getLogger(__name__)

SERVER_HOSTNAME = "flotilla-smtp-sink"
_SUFFIX = ".eml"


class MaildirHandler:
    """aiosmtpd handler: stores each message's bytes in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sequence = itertools.count()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # Stored with local line endings, as a delivery agent does (CRLF is SMTP's wire form).
        content = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        envelope_headers = (
            f"Return-Path: <{envelope.mail_from or ''}>\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\n"
        ).encode()
        self.store(envelope_headers + content)
        return "250 OK: message stored"

    def store(self, message: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._sequence):06d}{_SUFFIX}"
        partial = self.folder / f".{name}.partial"
        partial.write_bytes(message)
        final = self.folder / name
        partial.replace(final)  # atomic: readers see the whole message or nothing
        return final


def read_messages(folder: Path) -> list[EmailMessage]:
    """Every message delivered to `folder` so far, oldest first (none if it does not exist)."""
    if not folder.is_dir():
        return []
    messages = []
    for path in sorted(folder.glob(f"*{_SUFFIX}")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


def _require_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(
            f"the SMTP sink accepts mail for anyone; it listens on loopback only, not {host}"
        )


class SmtpSink:
    """The sink on a background thread, for tests: `with SmtpSink(folder, port): ...`."""

    def __init__(self, folder: Path, port: int, host: str = "127.0.0.1") -> None:
        _require_loopback(host)
        self.folder = folder
        self.host = host
        self.port = port
        self._controller = Controller(
            MaildirHandler(folder), hostname=host, port=port, server_hostname=SERVER_HOSTNAME
        )

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def messages(self) -> list[EmailMessage]:
        return read_messages(self.folder)

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


async def serve(folder: Path, host: str, port: int, *, in_pod: bool = False) -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting and close open sessions. `in_pod`:
    a pod's network namespace, where any address of its own is the cluster's, not the host's."""
    if not in_pod:
        _require_loopback(host)
    folder.mkdir(parents=True, exist_ok=True)
    handler = MaildirHandler(folder)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname=SERVER_HOSTNAME), host=host, port=port
    )
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    log.info("smtp sink listening on %s:%d, storing mail in %s", host, port, folder)
    try:
        await stopping.wait()
    finally:
        server.close()
        # Sessions still open are cancelled when asyncio.run() returns; don't wait on them.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)
    log.info("smtp sink stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.smtp_sink",
        description="An SMTP server that stores every message it receives as a .eml file.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="a loopback address (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=2525, help="default: %(default)s")
    parser.add_argument("--maildir", type=Path, required=True, help="where messages are stored")
    parser.add_argument(
        "--pod",
        action="store_true",
        help="running in a Kubernetes pod: listen on the pod's own addresses (host 0.0.0.0)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    host = "0.0.0.0" if args.pod else args.host  # the pod's own addresses only
    try:
        asyncio.run(serve(args.maildir, host, args.port, in_pod=args.pod))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
