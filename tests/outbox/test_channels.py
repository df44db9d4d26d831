"""The SMTP channel against a real aiosmtpd server, and the file channel."""

from __future__ import annotations

import email
import email.header
from email.message import Message
from pathlib import Path

import pytest

from longtail.channels import ChannelDown, HardBounce, PermanentError, TransientError
from longtail.channels.files import FileChannel, file_name
from longtail.channels.smtp import SmtpChannel, build_email
from longtail.dispatch import dispatch
from longtail.store.outbox import OutboxRow, OutboxStore, message_id_for
from tests.outbox.helpers import T0, Clock, SmtpServer, free_port, msg


def row(i: int = 1, **kw: object) -> OutboxRow:
    m = msg(i, **kw)  # type: ignore[arg-type]
    return OutboxRow(key=m.key, channel=m.channel, payload=m.payload, due_at=m.due_at, attempts=1,
                     message_id=message_id_for(m.key), contact_id=m.contact_id)


def channel(server: SmtpServer) -> SmtpChannel:
    return SmtpChannel("127.0.0.1", server.port, None, None, False, "cs@example.com")


def _parts(message: Message) -> dict[str, str]:
    return {p.get_content_type(): str(p.get_payload(decode=True).decode()).strip()  # type: ignore[union-attr]
            for p in message.walk() if not p.is_multipart()}


def test_build_email_is_multipart_with_message_id_and_one_click_unsubscribe() -> None:
    r = row(3)
    m = email.message_from_bytes(build_email(r, "cs@example.com").as_bytes())
    assert m.get_content_type() == "multipart/alternative"
    assert m["Message-ID"] == r.message_id and m["To"] == "user3@example.com"
    assert m["List-Unsubscribe"] == "<https://example.com/u/3>"
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert _parts(m) == {"text/plain": "Hi 3", "text/html": "<p>Hi 3</p>"}
    # Same row, same bytes: a re-send is an exact copy.
    assert build_email(r, "cs@example.com").as_bytes() == build_email(r, "cs@example.com").as_bytes()


def test_build_email_rejects_bad_payloads() -> None:
    r = row(1)
    with pytest.raises(PermanentError, match="'subject'"):
        build_email(OutboxRow(**{**r.__dict__, "payload": {"to": "a@b.c", "text": "x"}}), "f@x")
    with pytest.raises(PermanentError, match="set by the channel"):
        payload = {**r.payload, "headers": {"Message-ID": "<x@y>"}}
        build_email(OutboxRow(**{**r.__dict__, "payload": payload}), "f@x")
    mailto = {**r.payload, "headers": {"List-Unsubscribe": "<mailto:u@example.com>"}}
    m = build_email(OutboxRow(**{**r.__dict__, "payload": mailto}), "f@x")
    assert m["List-Unsubscribe-Post"] is None


def test_smtp_sends_over_one_connection_and_reconnects(smtp_server: SmtpServer) -> None:
    ch = channel(smtp_server)
    rows = [row(i) for i in range(3)]
    ch.send(rows[0])
    first = ch._smtp
    ch.send(rows[1])
    assert ch._smtp is first  # reused
    assert first is not None
    first.sock.close()  # type: ignore[union-attr]  # the server side went away
    ch.send(rows[2])
    ch.close()
    assert smtp_server.received_ids() == [r.message_id for r in rows]
    got = smtp_server.handler.messages[0]
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and got["From"] == "cs@example.com"


def test_smtp_errors_are_classified(smtp_server: SmtpServer) -> None:
    ch = channel(smtp_server)
    with pytest.raises(HardBounce, match="550"):
        ch.send(row(1, to="bounce@example.com"))
    with pytest.raises(TransientError, match="452"):
        ch.send(row(2, to="full@example.com"))
    with pytest.raises(PermanentError, match="554") as excinfo:
        ch.send(row(3, to="reject@example.com"))
    assert not isinstance(excinfo.value, HardBounce)
    ch.send(row(4))  # the connection is still usable after the refusals
    ch.close()
    assert smtp_server.received_ids() == [row(4).message_id]


def test_smtp_server_down_is_channel_down() -> None:
    ch = SmtpChannel("127.0.0.1", free_port(), None, None, False, "cs@example.com")
    with pytest.raises(ChannelDown):
        ch.send(row(1))


def test_dispatch_through_smtp_bounces_and_suppresses(smtp_server: SmtpServer, sqlite_engine: object) -> None:
    store = OutboxStore(sqlite_engine)  # type: ignore[arg-type]
    store.enqueue([msg(1), msg(2, to="bounce@example.com"), msg(3, to="full@example.com")], now=T0)
    counts = dispatch(store, channel(smtp_server), "w", Clock())
    assert (counts.sent, counts.bounced, counts.retried) == (1, 1, 1)
    assert smtp_server.received_ids() == [message_id_for(msg(1).key)]
    assert store.counts() == {"pending": 1, "sending": 0, "sent": 1, "failed": 1, "suppressed": 0, "held": 0}


def test_file_channel_writes_one_eml_per_key(tmp_path: Path) -> None:
    ch = FileChannel(tmp_path / "out", "cs@example.com")
    r = row(1)
    ch.send(r)
    ch.send(r)  # a re-send replaces the file
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == [f"{r.key}.eml"]
    parsed = email.message_from_bytes((tmp_path / "out" / files[0]).read_bytes())
    assert parsed["Message-ID"] == r.message_id


def test_file_names_stay_distinct_for_unsafe_keys() -> None:
    assert file_name("a/b") != file_name("a_b")
    assert "/" not in file_name("../../etc/passwd")


def test_non_ascii_is_encoded_and_line_breaks_are_refused(smtp_server: SmtpServer) -> None:
    r = row(1)
    payload = {**r.payload, "to": "Zoë Ünal <zoe@example.com>", "subject": "Ça va? Grüße", "text": "Grüße ☕"}
    ch = channel(smtp_server)
    ch.send(OutboxRow(**{**r.__dict__, "payload": payload}))
    ch.close()
    got = smtp_server.handler.messages[0]
    assert str(email.header.make_header(email.header.decode_header(got["Subject"]))) == "Ça va? Grüße"
    assert _parts(got)["text/plain"] == "Grüße ☕"
    with pytest.raises(PermanentError, match="line break"):
        build_email(OutboxRow(**{**r.__dict__, "payload": {**payload, "subject": "hi\r\nBcc: x@y.z"}}), "f@x")
