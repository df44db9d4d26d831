"""Email over SMTP, one connection reused across a batch; and the MIME message both email channels write.

Error classes (see longtail.channels): 4xx replies and connection trouble are transient; 5xx replies are
permanent; a recipient refused with 550, 551 or 553 is a hard bounce (the address is suppressed and, when the
channel has a `bounce_landing`, the dispatcher lands a `longtail.email.bounced` warehouse event).
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import ssl
from collections.abc import Mapping
from email import charset as _charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr

from longtail.channels import ChannelDown, HardBounce, Landing, PermanentError, TransientError
from longtail.store.outbox import OutboxRow

log = logging.getLogger(__name__)

HARD_BOUNCE_CODES = frozenset({550, 551, 553})
ONE_CLICK = "List-Unsubscribe=One-Click"
# Headers the message builds itself; a payload may not override them (Message-ID above all: it is the
# deduplication handle of a re-send).
RESERVED = frozenset({"message-id", "from", "to", "subject", "date", "mime-version", "content-type",
                      "content-transfer-encoding"})
# The compat32 MIME classes rather than EmailMessage: the modern policy parses every header through the
# header registry, which made building a message cost more than sending it (see benchmarks/bench_email.py).
WIRE = compat32.clone(linesep="\r\n")
UTF8 = _charset.Charset("utf-8")
UTF8.body_encoding = _charset.QP  # readable .eml previews, unlike base64


def _unicode(name: str, value: object) -> str:
    """`value` as text that UTF-8 can encode; a lone surrogate (possible in JSON) would crash the encoder later."""
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PermanentError(f"email {name} is not valid Unicode text: {exc.reason} at {exc.start}") from exc
    return text


_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 field name: printable ASCII but the colon


def _header(name: str, value: object) -> str:
    text = _unicode(name, value)
    if "\r" in text or "\n" in text:
        raise PermanentError(f"email header {name!r} contains a line break")
    return text if text.isascii() else Header(text, "utf-8", header_name=name).encode()


# A bare address of dot-separated plain atoms: parseaddr returns it unchanged and formataddr writes it as it
# is, so it skips both (they cost more than writing the whole message; tests/outbox/test_email_bytes.py).
_BARE_ADDRESS = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def _mailbox(text: str) -> str:
    """The address part of `text` ("Name <a@b>" or "a@b"), as the envelope needs it."""
    return text if _BARE_ADDRESS.fullmatch(text) else parseaddr(text)[1]


def _address(name: str, value: object) -> str:
    text = _unicode(name, value)
    if _BARE_ADDRESS.fullmatch(text):
        return text
    if "\r" in text or "\n" in text:
        raise PermanentError(f"email header {name!r} contains a line break")
    display, addr = parseaddr(text)
    if "@" not in addr:
        raise PermanentError(f"email {name} address {text!r} is not an address")
    if not addr.isascii():
        # formataddr would raise UnicodeEncodeError, which no dispatcher handles: the row would crash it on
        # every claim. Internationalised addresses need SMTPUTF8, which this channel does not speak.
        raise PermanentError(f"email {name} address {text!r} is not ASCII")
    return formataddr((display, addr), charset="utf-8")


def _headers(row: OutboxRow, from_addr: str) -> tuple[str | None, str | None, list[tuple[str, str]]]:
    """Validate an email row: (text, html, headers after the MIME ones, in order). Raises PermanentError."""
    payload = row.payload
    for required in ("to", "subject"):
        if not payload.get(required):
            raise PermanentError(f"email payload has no {required!r}")
    text, html = payload.get("text"), payload.get("html")
    if not text and not html:
        raise PermanentError("email payload has neither 'text' nor 'html'")
    headers = [
        ("From", _address("From", from_addr)),
        ("To", _address("To", payload["to"])),
        ("Subject", _header("Subject", payload["subject"])),
        ("Date", format_datetime(row.due_at)),
        ("Message-ID", row.message_id),
    ]
    extra: Mapping[str, object] = payload.get("headers") or {}
    for name, value in extra.items():
        if name.lower() in RESERVED:
            raise PermanentError(f"email payload header {name!r} is set by the channel")
        if not _HEADER_NAME.fullmatch(str(name)):
            raise PermanentError(f"email payload header name {name!r} is not a header name")
        headers.append((name, _header(name, value)))
    # Message.get semantics: the first header of that name, case-insensitively.
    found = {name.lower(): value for name, value in reversed(headers)}
    unsubscribe = found.get("list-unsubscribe", "")
    # RFC 8058 one-click needs an HTTPS URI to POST to; a mailto-only header gets no Post header.
    if "https://" in unsubscribe and "list-unsubscribe-post" not in found:
        headers.append(("List-Unsubscribe-Post", ONE_CLICK))
    return (_unicode("text", text) if text else None), (_unicode("html", html) if html else None), headers


def build_email(row: OutboxRow, from_addr: str) -> Message:
    """The MIME message of an email outbox row: multipart/alternative (text + html), or one part.

    Payload: to, subject, text and/or html, headers (extra headers, e.g. List-Unsubscribe). Date is the due
    time rather than the send time, and the boundary derives from the key, so a re-sent copy is
    byte-identical to the first one.
    """
    return _mime(row.key, *_headers(row, from_addr))


def _boundary(key: str) -> str:
    return "=_lt_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _mime(key: str, text: str | None, html: str | None, headers: list[tuple[str, str]]) -> Message:
    msg: Message
    if text and html:
        msg = MIMEMultipart("alternative", boundary=_boundary(key))
        msg.attach(MIMEText(text, "plain", UTF8))  # type: ignore[arg-type]
        msg.attach(MIMEText(html, "html", UTF8))  # type: ignore[arg-type]
    else:
        msg = MIMEText(text or html or "", "plain" if text else "html", UTF8)  # type: ignore[arg-type]
    for name, value in headers:
        msg[name] = value
    return msg


# What `email_bytes` writes itself instead of asking the email package: a header line the compat32 generator
# leaves exactly as it is (printable ASCII words separated by single spaces, short enough not to be folded).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9-]+")
_PLAIN_VALUE = re.compile(r"[!-~]+(?: [!-~]+)*")
_FOLD_AT = 78  # compat32's max_line_length: a longer header line is folded
_NEWLINES = re.compile(r"\r\n|\r|\n")  # the generator's line-end rewriting (email.generator.NLCRE)
_TEXT_PART = (b'Content-Type: text/%s; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
              b"Content-Transfer-Encoding: quoted-printable\r\n")


def _plain(headers: list[tuple[str, str]]) -> bool:
    return all(_PLAIN_NAME.fullmatch(name) and _PLAIN_VALUE.fullmatch(value) and len(name) + 2 + len(value) <= _FOLD_AT
               for name, value in headers)


def _qp(body: str) -> bytes:
    # The body exactly as MIMEText(body, subtype, UTF8) and the generator write it: quoted-printable of its
    # UTF-8 bytes, line ends turned into CRLF.
    return _NEWLINES.sub("\r\n", UTF8.body_encode(body)).encode("ascii")


def _wire(key: str, text: str | None, html: str | None, headers: list[tuple[str, str]]) -> bytes:
    """What `_mime(...).as_bytes(policy=WIRE)` returns, for headers that pass `_plain`, written directly."""
    head = b"".join(f"{name}: {value}\r\n".encode("ascii") for name, value in headers)
    if text and html:
        b = _boundary(key).encode("ascii")
        return b"".join((
            b'Content-Type: multipart/alternative;\r\n boundary="', b, b'"\r\nMIME-Version: 1.0\r\n', head,
            b"\r\n--", b, b"\r\n", _TEXT_PART % b"plain", b"\r\n", _qp(text),
            b"\r\n--", b, b"\r\n", _TEXT_PART % b"html", b"\r\n", _qp(html), b"\r\n--", b, b"--\r\n",
        ))
    return b"".join((_TEXT_PART % (b"plain" if text else b"html"), head, b"\r\n", _qp(text or html or "")))


def email_bytes(row: OutboxRow, from_addr: str) -> bytes:
    """The message as sent: `build_email` with CRLF line ends.

    Common messages (plain ASCII headers that need no folding) are written directly: building the email
    package's objects and running its generator cost more than sending the message (benchmarks/README.md,
    bench_email). The bytes are the same either way (tests/outbox/test_email_bytes.py compares them).
    """
    text, html, headers = _headers(row, from_addr)
    if _plain(headers):
        return _wire(row.key, text, html, headers)
    return _mime(row.key, text, html, headers).as_bytes(policy=WIRE)


def _classify(code: int, message: str) -> Exception:
    if 400 <= code < 500:
        return TransientError(f"{code} {message}")
    return PermanentError(f"{code} {message}")


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


class SmtpChannel:
    """Send email through one SMTP server, keeping the connection open between messages.

    `bounce_landing`: where the dispatcher lands the `longtail.email.bounced` event of a hard bounce (the
    workspace's warehouse; `longtail.channels.workspace.email_channel` sets it).
    """

    # Positional like smtplib and the settings they come from: host, port, user, password, starttls, from.
    def __init__(  # noqa: PLR0917
        self, host: str, port: int, user: str | None, password: str | None, starttls: bool, from_addr: str,
        timeout: float = 30.0, *, bounce_landing: Landing | None = None,
    ) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.from_addr, self.timeout = starttls, from_addr, timeout
        # Read by the dispatcher (longtail.channels.LandsBounces): it lands a hard bounce as a warehouse event.
        self.bounce_landing = bounce_landing
        self._envelope_from = _mailbox(from_addr)
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelDown(f"SMTP login to {self.host}:{self.port} refused: {exc.smtp_code} "
                              f"{_text(exc.smtp_error)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelDown(f"cannot open an SMTP session with {self.host}:{self.port}: {exc}") from exc
        return smtp

    def send(self, row: OutboxRow) -> None:
        """Deliver one email; reconnects once if the server dropped the kept-open connection."""
        data = email_bytes(row, self.from_addr)
        to = _mailbox(str(row.payload["to"]))
        for retry in (False, True):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                self._smtp.sendmail(self._envelope_from, [to], data)
                return
            except smtplib.SMTPServerDisconnected as exc:
                self._smtp = None
                if retry:
                    raise TransientError(f"SMTP server disconnected: {exc}") from exc
                log.debug("SMTP connection dropped; reconnecting")
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = exc.recipients.get(to, (550, b"recipient refused"))
                if code in HARD_BOUNCE_CODES:
                    raise HardBounce(f"{code} {_text(reply)}") from exc
                raise _classify(code, _text(reply)) from exc
            except smtplib.SMTPResponseException as exc:
                # The server answered: it may still expect a RSET before the next message.
                self._reset()
                raise _classify(exc.smtp_code, _text(exc.smtp_error)) from exc
            except OSError as exc:
                self.close()
                raise TransientError(f"SMTP connection error: {exc}") from exc

    def _reset(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (OSError, smtplib.SMTPException) as exc:
            log.debug("RSET failed (%s); dropping the connection", exc)
            self.close()

    def close(self) -> None:
        """QUIT the kept-open connection, if any."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException) as exc:
            # The message state is already committed; a failed QUIT only leaves a socket to close.
            log.debug("SMTP QUIT failed: %s", exc)
            smtp.close()
