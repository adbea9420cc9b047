"""One SMTP connection, kept open between emails as a production mail client keeps it.

Opening a connection (connect, greeting, EHLO, maybe STARTTLS and AUTH) costs more than the
mail transaction itself (MAIL, RCPT, DATA), and mail relays expect their clients to reuse
connections. `SmtpConnection.deliver` sends each message over the connection the last one used:

- **One transaction at a time.** `deliver` holds a lock from MAIL FROM to the server's reply to
  the message; concurrent callers (the consumer's partitions) wait for it. A caller's timeout
  covers its wait.
- **A connection the server closed while idle is replaced, once, at once.** A server closes an
  idle connection on its own schedule; a client learns of it when it next uses the connection:
  the socket is found closed, or MAIL FROM meets a closed connection or the 421 reply by which
  a server says it is closing it. Until DATA the server has nothing of this message, so
  `deliver` opens a new connection and sends there, within the same call. From DATA on the
  server may have the message: a failure there is the caller's to judge (a resend could
  deliver it twice).
- **Any failure drops the connection.** A timeout or a cancellation (which can strike halfway
  through a transaction), a broken connection, even a refusal of one message (aiosmtplib
  sends RSET after one, but whether that worked is not said): the connection is closed and the
  next message starts on a new one. Failures are rare; a new connection is the one state known
  to be clean.
- **Idle connections are closed**, with QUIT, after `idle_close_s` without a message: before
  the server's own idle timeout, so that a connection is rarely found closed. `close()` does
  the same at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from email.headerregistry import Address
from typing import Literal

import aiosmtplib
from aiosmtplib import SMTPResponse, SMTPResponseException, SMTPServerDisconnected
from aiosmtplib.typing import Default

from notifications.outgoing import OutgoingEmail

__all__ = ["SmtpConfig", "SmtpConnection"]

log = logging.getLogger(__name__)

_SERVICE_CLOSING = 421
_QUIT_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: Address
    timeout_s: float = 5.0
    tls: Literal["auto", "starttls", "implicit", "off"] = "auto"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    max_attempts: int = 3
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 2.0
    idle_close_s: float = 5.0

    @property
    def helo_name(self) -> str:
        """Our own name in EHLO: the sender's domain (and no slow reverse-DNS lookup)."""
        return self.sender.domain or "localhost"


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, noting when a transaction reaches DATA: from then on the server
    may have the message."""

    handed_over = False

    async def data(
        self,
        message: str | bytes,
        /,
        *,
        timeout: float | None | Literal[Default.token] = Default.token,  # noqa: ASYNC109 - its signature
    ) -> SMTPResponse:
        self.handed_over = True
        return await super().data(message, timeout=timeout)

    async def send_email(self, outgoing: OutgoingEmail) -> None:
        """`outgoing` in one transaction: its bytes as written directly, with what
        `send_message` adds for an ASCII envelope (the same EHLO check and MAIL FROM options),
        or the package's message through `send_message` when they could not be written."""
        await self._ehlo_or_helo_if_needed()
        eight_bit_mime = self.supports_extension("8BITMIME")
        flat = outgoing.flat_for(eight_bit_mime=eight_bit_mime)
        if flat is None:
            await self.send_message(outgoing.message())
            return
        options = ["BODY=8BITMIME"] if eight_bit_mime else []
        await self.sendmail(flat.sender, [flat.recipient], flat.content, mail_options=options)


def _closed_by_server(error: BaseException) -> bool:
    """How a connection the server closed while it was idle answers its next command."""
    if isinstance(error, SMTPResponseException):
        return error.code == _SERVICE_CLOSING
    return isinstance(error, SMTPServerDisconnected | ConnectionError)


class SmtpConnection:
    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._lock = asyncio.Lock()
        self._client: _Client | None = None
        self._delivered = 0
        """Messages delivered so far: an idle timer closes the connection only if none was
        delivered since it was set."""
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_close: asyncio.Task[None] | None = None

    async def deliver(self, message: OutgoingEmail) -> None:
        """Send `message` in one SMTP transaction, on the open connection or a new one."""
        async with self._lock:
            self._stop_idle_timer()
            client = self._client
            if client is not None and not client.is_connected:  # seen closing while idle
                self._drop()
                client = None
            if client is None:
                await self._send(await self._connect(), message)
            else:
                try:
                    await self._send(client, message)
                except Exception as error:
                    if client.handed_over or not _closed_by_server(error):
                        raise
                    log.info(
                        "the SMTP server had closed the idle connection; sending on a new one",
                        extra={"error_type": type(error).__name__, "error": str(error)},
                    )
                    await self._send(await self._connect(), message)
            self._delivered += 1
            self._idle_timer = asyncio.get_running_loop().call_later(
                self._config.idle_close_s, self._on_idle, self._delivered
            )

    async def close(self) -> None:
        """QUIT and close the open connection, if there is one (at shutdown). A later
        `deliver` opens a new one."""
        self._stop_idle_timer()
        if self._idle_close is not None:
            await self._idle_close
        async with self._lock:
            await self._quit()

    async def _connect(self) -> _Client:
        config = self._config
        client = _Client(
            hostname=config.host,
            port=config.port,
            timeout=config.timeout_s,
            local_hostname=config.helo_name,
            use_tls=config.tls == "implicit",
            start_tls={"auto": None, "starttls": True}.get(config.tls, False),
            username=config.username,
            password=config.password,
        )
        try:
            await client.connect()
        except BaseException:
            client.close()  # aiosmtplib leaves the socket open when cancelled
            raise
        self._client = client
        return client

    async def _send(self, client: _Client, message: OutgoingEmail) -> None:
        client.handed_over = False
        try:
            await client.send_email(message)
        except BaseException:
            # Also a cancellation (a timeout): never reuse a connection left mid-transaction.
            self._drop()
            raise

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def _quit(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                    await client.quit(timeout=_QUIT_TIMEOUT_S)
        finally:
            client.close()

    def _stop_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _on_idle(self, delivered: int) -> None:
        self._idle_timer = None
        self._idle_close = asyncio.create_task(
            self._close_if_idle(delivered), name="smtp-idle-close"
        )

    async def _close_if_idle(self, delivered: int) -> None:
        async with self._lock:
            if self._delivered == delivered:  # nothing was sent while this waited for the lock
                await self._quit()
