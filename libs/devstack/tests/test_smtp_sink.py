"""The SMTP sink: real SMTP in, one .eml file per message out."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from devstack.process import free_port, port_open
from devstack.smtp_sink import MaildirHandler, Sessions, SmtpSink, main, read_messages
from servicekit.testing import eventually


def _message(subject: str, to: str = "ann@example.com") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Flotilla <no-reply@flotilla.local>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{subject.replace(' ', '-')}@flotilla.local>"
    message.set_content(f"Hello Ann, this is {subject}.\nÇa marche.\n")
    return message


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail", free_port()) as running:
        yield running


def test_a_sent_message_is_stored_and_read_back(sink: SmtpSink) -> None:
    with smtplib.SMTP(sink.host, sink.port, local_hostname="tests", timeout=5) as client:
        client.send_message(_message("first message"), to_addrs=["ann@example.com", "b@x.org"])
    [received] = read_messages(sink.folder)
    assert received["Subject"] == "first message"
    assert received["Message-ID"] == "<first-message@flotilla.local>"
    assert received["From"] == "Flotilla <no-reply@flotilla.local>"
    assert received["Return-Path"] == "<no-reply@flotilla.local>"
    assert received["X-Envelope-To"] == "ann@example.com, b@x.org"
    body = received.get_body(("plain",))
    assert body is not None
    assert body.get_content() == "Hello Ann, this is first message.\nÇa marche.\n"
    assert [path.suffix for path in sink.folder.iterdir()] == [".eml"]


def test_messages_come_back_in_arrival_order(sink: SmtpSink) -> None:
    with smtplib.SMTP(sink.host, sink.port, local_hostname="tests", timeout=5) as client:
        for number in range(5):
            client.send_message(_message(f"message {number}"))
    assert [m["Subject"] for m in sink.messages()] == [f"message {n}" for n in range(5)]


async def test_sessions_are_counted_per_connection_with_how_they_ended(sink: SmtpSink) -> None:
    assert sink.sessions() == Sessions(opened=0, open=0, quit=0)  # not the controller's probe
    with smtplib.SMTP(sink.host, sink.port, local_hostname="tests", timeout=5) as client:
        client.send_message(_message("one"))
        client.send_message(_message("two"))
        assert sink.sessions() == Sessions(opened=1, open=1, quit=0)
    assert sink.sessions().quit == 1  # counted before the reply to QUIT
    await eventually(lambda: sink.sessions().open == 0, timeout_s=5, what="the session closed")

    dropped = smtplib.SMTP(sink.host, sink.port, local_hostname="tests", timeout=5)
    dropped.close()  # no QUIT
    await eventually(lambda: sink.sessions().opened == 2, timeout_s=5, what="a second session")
    await eventually(lambda: sink.sessions().open == 0, timeout_s=5, what="it closed")
    assert sink.sessions().quit == 1


async def test_the_sink_hangs_up_on_its_clients_when_told_to(sink: SmtpSink) -> None:
    client = smtplib.SMTP(sink.host, sink.port, local_hostname="tests", timeout=5)
    try:
        client.ehlo()
        assert sink.sessions().open == 1
        sink.drop_sessions()
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()
        await eventually(lambda: sink.sessions().open == 0, timeout_s=5, what="the hang-up")
        assert sink.sessions().quit == 0
    finally:
        client.close()


def test_a_missing_folder_reads_as_no_messages(tmp_path: Path) -> None:
    assert read_messages(tmp_path / "nothing-yet") == []


def test_a_message_being_written_is_invisible(tmp_path: Path) -> None:
    (tmp_path / ".00001-1-000000.eml.partial").write_bytes(b"Subject: half\r\n")
    MaildirHandler(tmp_path).store(b"Subject: whole\r\n\r\nbody\r\n")
    assert [m["Subject"] for m in read_messages(tmp_path)] == ["whole"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com"])
def test_it_refuses_to_listen_beyond_loopback(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SmtpSink(tmp_path, 2525, host=host)
    assert main(["--host", host, "--port", "2525", "--maildir", str(tmp_path)]) == 1


def test_the_command_serves_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    folder = tmp_path / "maildir"
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.smtp_sink", "--port", str(port), "--maildir", folder],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the sink did not start listening"
            time.sleep(0.05)
        with smtplib.SMTP("127.0.0.1", port, local_hostname="tests", timeout=5) as client:
            client.send_message(_message("via the command"))
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert [m["Subject"] for m in read_messages(folder)] == ["via the command"]
    assert b"smtp sink listening" in output
    assert b">>" not in output  # aiosmtpd's line per command, without --verbose
    assert not port_open("127.0.0.1", port)
