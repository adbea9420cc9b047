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

The sink also counts its sessions (`sink.sessions()`: connections accepted, still open, ended by
the client's QUIT), so that a test can see whether a client keeps one connection for many
messages and how it leaves; `sink.drop_sessions()` hangs up on every client, as a server whose
idle timeout expired does. aiosmtpd logs every protocol line at INFO (logger `mail.log`): the
command keeps that logger at WARNING unless `--verbose`.
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
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["MaildirHandler", "Sessions", "SmtpSink", "main", "read_messages"]

log = logging.getLogger(__name__)

SERVER_HOSTNAME = "flotilla-smtp-sink"
_SUFFIX = ".eml"


@dataclass(frozen=True)
class Sessions:
    """The SMTP sessions a sink has had: one per client connection, however many messages it
    carried."""

    opened: int
    """Connections accepted."""
    open: int
    """Connections still open."""
    quit: int
    """Sessions the client ended with QUIT (the others it dropped, or the sink hung up)."""


class MaildirHandler:
    """aiosmtpd handler: stores each message's bytes in `folder`, and keeps count of the
    sessions (`_SinkSession` tells it when one starts and ends; aiosmtpd's handlers hear only
    of commands). The counts are kept on the server's thread and read from any."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sequence = itertools.count()
        self._lock = threading.Lock()
        self._open: set[SMTP] = set()
        self._opened = 0
        self._quit = 0

    def session_opened(self, session: SMTP) -> None:
        with self._lock:
            self._open.add(session)
            self._opened += 1

    def session_closed(self, session: SMTP) -> None:
        with self._lock:
            self._open.discard(session)

    def sessions(self) -> Sessions:
        with self._lock:
            return Sessions(opened=self._opened, open=len(self._open), quit=self._quit)

    def forget_sessions(self) -> None:
        """Count from zero: aiosmtpd's Controller connects once to see that it started, and
        that session is nobody's."""
        with self._lock:
            self._open.clear()
            self._opened = self._quit = 0

    def hang_up(self) -> None:
        """On the server's loop: close every open session's connection."""
        with self._lock:
            open_sessions = list(self._open)
        for session in open_sessions:
            if session.transport is not None:
                session.transport.close()

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self._quit += 1
        return "221 Bye"

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


class _SinkSession(SMTP):
    """aiosmtpd's SMTP protocol (one per connection), telling the handler when its client
    connects and when the connection ends."""

    event_handler: MaildirHandler

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        starting = self.transport is None  # not a STARTTLS upgrade of a running session
        super().connection_made(transport)
        if starting:
            self.event_handler.session_opened(self)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self.event_handler.session_closed(self)


class _SinkController(Controller):
    def factory(self) -> SMTP:
        return _SinkSession(self.handler, **self.SMTP_kwargs)


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
    """The sink on a background thread, for tests: `with SmtpSink(folder, port): ...`.
    `handler`: a MaildirHandler subclass, for a test's server that answers otherwise."""

    def __init__(
        self,
        folder: Path,
        port: int,
        host: str = "127.0.0.1",
        *,
        handler: type[MaildirHandler] = MaildirHandler,
    ) -> None:
        _require_loopback(host)
        self.folder = folder
        self.host = host
        self.port = port
        self.handler = handler(folder)
        self._controller = _SinkController(
            self.handler, hostname=host, port=port, server_hostname=SERVER_HOSTNAME
        )

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller.start()  # returns once its own probe connection was greeted
        self.handler.forget_sessions()

    def stop(self) -> None:
        self.drop_sessions()  # aiosmtpd would leave them open
        self._controller.stop()

    def messages(self) -> list[EmailMessage]:
        return read_messages(self.folder)

    def sessions(self) -> Sessions:
        return self.handler.sessions()

    def drop_sessions(self) -> None:
        """Hang up on every connected client, as a server whose idle timeout expired does;
        returns once the connections are closing (`sessions().open` reaches 0 just after)."""
        loop = self._controller.loop
        done = threading.Event()

        def hang_up() -> None:
            self.handler.hang_up()
            done.set()

        loop.call_soon_threadsafe(hang_up)
        if not done.wait(timeout=10):
            raise TimeoutError("the SMTP sink's loop did not run")

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
        lambda: _SinkSession(handler, hostname=SERVER_HOSTNAME), host=host, port=port
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
    parser.add_argument(
        "--verbose", action="store_true", help="log every SMTP command and reply (aiosmtpd's)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # aiosmtpd logs each connection and protocol line at INFO: several lines per message.
    logging.getLogger("mail.log").setLevel(logging.INFO if args.verbose else logging.WARNING)
    host = "0.0.0.0" if args.pod else args.host  # the pod's own addresses only
    try:
        asyncio.run(serve(args.maildir, host, args.port, in_pod=args.pod))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
