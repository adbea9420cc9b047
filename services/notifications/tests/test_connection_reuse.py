"""The mailer keeps its SMTP connection open between emails, as a production mail client does:
against devstack's sink in-process (which counts its sessions), and sinks that answer as a
server closing an idle connection, losing the reply to a message, or stalling, would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email.headerregistry import Address
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from aiosmtplib import SMTPServerDisconnected

from devstack.process import free_port
from devstack.smtp_sink import MaildirHandler, Sessions, SmtpSink
from notifications.domain import Email
from notifications.mailer import SmtpMailer, smtp_breaker
from servicekit import BreakerPolicy
from servicekit.events import TransientError
from servicekit.testing import eventually

MailerFactory = Callable[..., SmtpMailer]


def _email(subject: str) -> Email:
    return Email(
        f"<{subject.replace(' ', '-')}@flotilla.local>",
        Address(addr_spec="ann@example.com"),
        subject,
        f"This is {subject}.\n",
    )


def _subjects(sink: SmtpSink) -> list[str]:
    return [message["Subject"] for message in sink.messages()]


async def test_emails_share_one_connection_one_transaction_at_a_time(
    smtp_sink: SmtpSink, make_mailer: MailerFactory
) -> None:
    mailer = make_mailer(smtp_sink.port)
    await mailer.send(_email("first"))
    await mailer.send(_email("second"))
    # As the consumer's partitions send: at once, each waiting for the one before.
    await asyncio.gather(*(mailer.send(_email(f"concurrent {n}")) for n in range(4)))

    assert sorted(_subjects(smtp_sink)) == sorted(
        ["first", "second", *(f"concurrent {n}" for n in range(4))]
    )
    assert smtp_sink.sessions() == Sessions(opened=1, open=1, quit=0)


async def test_a_connection_the_server_closed_while_idle_is_replaced_without_a_retry(
    smtp_sink: SmtpSink, make_mailer: MailerFactory
) -> None:
    breaker = smtp_breaker(BreakerPolicy(minimum_calls=1))
    mailer = make_mailer(smtp_sink.port, breaker)
    await mailer.send(_email("before"))
    smtp_sink.drop_sessions()  # the server's idle timeout
    await eventually(lambda: smtp_sink.sessions().open == 0, timeout_s=5, what="the hang-up")

    await mailer.send(_email("after"))

    assert _subjects(smtp_sink) == ["before", "after"]
    assert smtp_sink.sessions().opened == 2
    snapshot = breaker.snapshot()
    assert (snapshot.calls, snapshot.failures) == (2, 0)  # one attempt each, none failed


class _ClosesOnTheNextMail(MaildirHandler):
    """Closes a connection when MAIL FROM comes on it after a message was delivered, as a
    server whose idle timeout struck just as the client used the connection again: without a
    word, or saying 421 first (`with_421`)."""

    with_421 = False

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self._used: set[Session] = set()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if session not in self._used:  # what aiosmtpd does without this hook
            envelope.mail_from = address
            envelope.mail_options.extend(options)
            return "250 OK"
        assert server.transport is not None
        if not self.with_421:
            server.transport.close()
            return "250 OK"  # never sent: the connection is closed
        server.loop.call_soon(server.transport.close)  # after the reply
        return "421 4.4.2 flotilla-smtp-sink: idle timeout, closing connection"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._used.add(session)
        return await super().handle_DATA(server, session, envelope)


class _Says421OnTheNextMail(_ClosesOnTheNextMail):
    with_421 = True


@pytest.mark.parametrize("handler", [_ClosesOnTheNextMail, _Says421OnTheNextMail])
async def test_a_connection_found_closed_at_mail_from_is_replaced_within_the_attempt(
    tmp_path: Path, make_mailer: MailerFactory, handler: type[MaildirHandler]
) -> None:
    breaker = smtp_breaker(BreakerPolicy(minimum_calls=1))
    with SmtpSink(tmp_path / "mail", free_port(), handler=handler) as sink:
        mailer = make_mailer(sink.port, breaker, max_attempts=1)
        await mailer.send(_email("first"))
        await mailer.send(_email("second"))  # MAIL FROM meets the closed connection

        assert _subjects(sink) == ["first", "second"]
        assert sink.sessions().opened == 2
        snapshot = breaker.snapshot()
        assert (snapshot.calls, snapshot.failures) == (2, 0)


class _LosesTheReplyToLost(MaildirHandler):
    """Stores a message with the subject "lost", then closes the connection before its 250."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if b"Subject: lost" in (envelope.original_content or b""):
            assert server.transport is not None
            server.transport.close()
        return reply


async def test_a_connection_lost_after_data_is_not_resent_on_within_the_attempt(
    tmp_path: Path, make_mailer: MailerFactory
) -> None:
    breaker = smtp_breaker(BreakerPolicy(minimum_calls=10))
    with SmtpSink(tmp_path / "mail", free_port(), handler=_LosesTheReplyToLost) as sink:
        mailer = make_mailer(sink.port, breaker, max_attempts=1)
        await mailer.send(_email("kept"))
        with pytest.raises(TransientError) as caught:
            await mailer.send(_email("lost"))  # on the reused connection, closed after DATA

        assert isinstance(caught.value.__cause__, SMTPServerDisconnected)
        assert _subjects(sink) == ["kept", "lost"]  # once: the server may have it, so no resend
        assert sink.sessions().opened == 1
        assert breaker.snapshot().failures == 1


class _StallsOnStall(MaildirHandler):
    """Never answers the message with the subject "stall"."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if b"Subject: stall" in (envelope.original_content or b""):
            await asyncio.Event().wait()  # cancelled when the client hangs up
        return await super().handle_DATA(server, session, envelope)


async def test_a_connection_whose_send_timed_out_is_closed_and_not_used_again(
    tmp_path: Path, make_mailer: MailerFactory
) -> None:
    with SmtpSink(tmp_path / "mail", free_port(), handler=_StallsOnStall) as sink:
        mailer = make_mailer(sink.port, timeout_s=1.0, max_attempts=1)
        await mailer.send(_email("before"))
        with pytest.raises(TransientError) as caught:
            await mailer.send(_email("stall"))
        assert isinstance(caught.value.__cause__, TimeoutError)

        await mailer.send(_email("after"))

        assert _subjects(sink) == ["before", "after"]
        assert sink.sessions().opened == 2
        await eventually(lambda: sink.sessions().open == 1, timeout_s=5, what="the stalled one")


async def test_an_idle_connection_is_closed_with_quit(
    smtp_sink: SmtpSink, make_mailer: MailerFactory
) -> None:
    mailer = make_mailer(smtp_sink.port, idle_close_s=0.05)
    await mailer.send(_email("one"))
    await eventually(lambda: smtp_sink.sessions().open == 0, timeout_s=5, what="the idle close")
    assert smtp_sink.sessions() == Sessions(opened=1, open=0, quit=1)

    await mailer.send(_email("two"))  # on a new connection
    assert smtp_sink.sessions().opened == 2


async def test_closing_the_mailer_quits_its_connection(
    smtp_sink: SmtpSink, make_mailer: MailerFactory
) -> None:
    mailer = make_mailer(smtp_sink.port, idle_close_s=60.0)
    await mailer.close()  # nothing open yet: nothing to do
    await mailer.send(_email("one"))

    await mailer.close()  # as at shutdown

    assert smtp_sink.sessions().quit == 1  # counted before the server's reply to QUIT
    await eventually(lambda: smtp_sink.sessions().open == 0, timeout_s=5, what="the close")
    await mailer.close()
    assert smtp_sink.sessions() == Sessions(opened=1, open=0, quit=1)
