"""The SMTP mailer against a real SMTP server (devstack's sink, in-process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from email.headerregistry import Address
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from aiosmtplib import (
    SMTPConnectError,
    SMTPDataError,
    SMTPHeloError,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from devstack.smtp_sink import MaildirHandler, SmtpSink, read_messages
from notifications.domain import Email
from notifications.mailer import (
    SmtpMailer,
    counts_against_server,
    is_permanent_rejection,
    is_worth_retrying,
    smtp_breaker,
)
from servicekit import BreakerPolicy, CircuitOpenError, CircuitState
from servicekit.events import PermanentError, TransientError

MailerFactory = Callable[..., SmtpMailer]


def _email(to: str = "ann@example.com", subject: str = "Welcome to Flotilla") -> Email:
    return Email(
        message_id="<ntf_01jz3k8w6x9a2b4c5d6e7f8g9h@flotilla.local>",
        recipient=Address(addr_spec=to),
        subject=subject,
        body="Hi Ann,\n\nWelcome to Flotilla!\n",
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_message_is_delivered_with_its_headers(
    smtp_sink: SmtpSink, make_mailer: MailerFactory
) -> None:
    await make_mailer(smtp_sink.port).send(_email())
    [message] = read_messages(smtp_sink.folder)
    assert message["From"] == "Flotilla <no-reply@flotilla.local>"
    assert message["To"] == "ann@example.com"
    assert message["X-Envelope-To"] == "ann@example.com"
    assert message["Subject"] == "Welcome to Flotilla"
    assert message["Message-ID"] == "<ntf_01jz3k8w6x9a2b4c5d6e7f8g9h@flotilla.local>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"]
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content() == "Hi Ann,\n\nWelcome to Flotilla!\n"


async def test_a_down_server_opens_the_breaker_and_surfaces_as_transient(
    tmp_path: Path, unused_port: int, make_mailer: MailerFactory
) -> None:
    clock = _Clock()
    breaker = smtp_breaker(
        BreakerPolicy(minimum_calls=3, open_wait_s=30.0, half_open_max_calls=1), clock=clock
    )
    mailer = make_mailer(unused_port, breaker)  # 2 attempts per send

    with pytest.raises(TransientError) as first:
        await mailer.send(_email())
    assert isinstance(first.value.__cause__, SMTPConnectError)
    assert breaker.state is CircuitState.CLOSED  # 2 failed calls: below the minimum

    with pytest.raises(TransientError) as second:
        await mailer.send(_email())  # the third failure opens it; the retry is refused
    assert isinstance(second.value.__cause__, CircuitOpenError)
    assert breaker.state is CircuitState.OPEN

    # While open, nothing is attempted, even though a server is now listening.
    with SmtpSink(tmp_path / "mail", unused_port) as sink:
        with pytest.raises(TransientError, match="circuit open"):
            await mailer.send(_email())
        assert sink.messages() == []

        clock.now += 40.0  # past the open wait: the next send is the probe
        await mailer.send(_email())
        assert breaker.state is CircuitState.CLOSED
        assert len(sink.messages()) == 1


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and never says a word."""

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_a_server_that_hangs_times_out_per_attempt(
    silent_server: int, make_mailer: MailerFactory
) -> None:
    breaker = smtp_breaker(BreakerPolicy(minimum_calls=10))
    mailer = make_mailer(silent_server, breaker, timeout_s=0.2, max_attempts=2)
    started = asyncio.get_running_loop().time()
    with pytest.raises(TransientError) as caught:
        await mailer.send(_email())
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert asyncio.get_running_loop().time() - started < 2.0
    assert breaker.snapshot().failures == 2


class _Picky(MaildirHandler):
    """Refuses `reject@…` for good, and `busy@…` once with a temporary reply."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.refused_once: set[str] = set()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.startswith("reject@"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("busy@") and address not in self.refused_once:
            self.refused_once.add(address)
            return "451 4.7.1 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def picky_server(tmp_path: Path, unused_port: int) -> Iterator[tuple[int, Path]]:
    port = unused_port
    controller = Controller(
        _Picky(tmp_path / "picky"), hostname="127.0.0.1", port=port, server_hostname="picky"
    )
    controller.start()
    yield port, tmp_path / "picky"
    controller.stop()


async def test_a_permanent_rejection_is_a_permanent_error_and_not_the_servers_fault(
    picky_server: tuple[int, Path], make_mailer: MailerFactory
) -> None:
    port, folder = picky_server
    breaker = smtp_breaker(BreakerPolicy(minimum_calls=1))
    with pytest.raises(PermanentError, match="no such mailbox"):
        await make_mailer(port, breaker).send(_email(to="reject@example.com"))
    assert breaker.state is CircuitState.CLOSED
    assert breaker.snapshot().calls == 1  # one attempt: no retry
    assert read_messages(folder) == []


async def test_a_temporary_rejection_is_retried(
    picky_server: tuple[int, Path], make_mailer: MailerFactory
) -> None:
    port, folder = picky_server
    await make_mailer(port).send(_email(to="busy@example.com"))
    assert [m["To"] for m in read_messages(folder)] == ["busy@example.com"]


class _NotingMailOptions(MaildirHandler):
    """Stores messages as the sink does, noting each MAIL FROM's parameters."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.mail_options: list[list[str]] = []

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.mail_options.append(options)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"


@pytest.mark.parametrize("eight_bit_mime", [True, False])
async def test_a_utf8_email_reads_the_same_from_a_server_with_or_without_8bitmime(
    tmp_path: Path, unused_port: int, make_mailer: MailerFactory, eight_bit_mime: bool
) -> None:
    handler = _NotingMailOptions(tmp_path / "mail")
    # aiosmtpd announces 8BITMIME unless it decodes what it receives
    controller = Controller(
        handler, hostname="127.0.0.1", port=unused_port, decode_data=not eight_bit_mime
    )
    controller.start()
    try:
        body = "Hi Zoë,\n\nYour order is confirmed.\n\n— The Flotilla team\n"
        await make_mailer(unused_port).send(
            Email(
                message_id="<ntf_1@flotilla.local>",
                recipient=Address(addr_spec="zoe@example.com"),
                subject="Your order is confirmed",
                body=body,
            )
        )
    finally:
        controller.stop()
    [message] = read_messages(handler.folder)
    assert message["Subject"] == "Your order is confirmed"
    assert message["X-Envelope-To"] == "zoe@example.com"
    assert message.get_content() == body
    cte = "8bit" if eight_bit_mime else "base64"  # sent as is, or encoded by the email package
    assert message["Content-Transfer-Encoding"] == cte
    [options] = handler.mail_options
    assert ("BODY=8BITMIME" in options) is eight_bit_mime


@pytest.mark.parametrize(
    ("error", "retry", "permanent", "server_fault"),
    [
        (SMTPConnectError("refused"), True, False, True),
        (SMTPServerDisconnected("gone"), True, False, True),
        (SMTPTimeoutError("slow"), True, False, True),
        (TimeoutError(), True, False, True),
        (ConnectionResetError(), True, False, True),
        (SMTPRecipientsRefused([SMTPRecipientRefused(550, "no", "a@x.org")]), False, True, False),
        (SMTPRecipientsRefused([SMTPRecipientRefused(450, "busy", "a@x.org")]), True, False, False),
        (SMTPRecipientsRefused([SMTPRecipientRefused(421, "bye", "a@x.org")]), True, False, True),
        (SMTPDataError(554, "spam"), False, True, False),
        (SMTPDataError(452, "full"), True, False, False),
        (SMTPHeloError(421, "closing"), True, False, True),
        (SMTPHeloError(554, "go away"), False, False, True),
        (CircuitOpenError("smtp", 3.0), False, False, True),
    ],
)
def test_failures_are_classified(
    error: Exception, retry: bool, permanent: bool, server_fault: bool
) -> None:
    assert is_worth_retrying(error) is retry
    assert is_permanent_rejection(error) is permanent
    assert counts_against_server(error) is server_fault
