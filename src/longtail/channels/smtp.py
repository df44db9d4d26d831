"""Email over SMTP, one connection reused across a batch; and the MIME message both email channels write.

Error classes (see longtail.channels): 4xx replies and connection trouble are transient; 5xx replies are
permanent; a recipient refused with 550, 551 or 553 is a hard bounce (the address is suppressed).
"""

from __future__ import annotations

import hashlib
import logging
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

from longtail.channels import ChannelDown, HardBounce, PermanentError, TransientError
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


def _header(name: str, value: object) -> str:
    text = str(value)
    if "\r" in text or "\n" in text:
        raise PermanentError(f"email header {name!r} contains a line break")
    return text if text.isascii() else Header(text, "utf-8", header_name=name).encode()


def _address(name: str, value: object) -> str:
    text = str(value)
    if "\r" in text or "\n" in text:
        raise PermanentError(f"email header {name!r} contains a line break")
    display, addr = parseaddr(text)
    if "@" not in addr:
        raise PermanentError(f"email {name} address {text!r} is not an address")
    return formataddr((display, addr), charset="utf-8")


def build_email(row: OutboxRow, from_addr: str) -> Message:
    """The MIME message of an email outbox row: multipart/alternative (text + html), or one part.

    Payload: to, subject, text and/or html, headers (extra headers, e.g. List-Unsubscribe). Date is the due
    time rather than the send time, and the boundary derives from the key, so a re-sent copy is
    byte-identical to the first one.
    """
    payload = row.payload
    for required in ("to", "subject"):
        if not payload.get(required):
            raise PermanentError(f"email payload has no {required!r}")
    text, html = payload.get("text"), payload.get("html")
    if not text and not html:
        raise PermanentError("email payload has neither 'text' nor 'html'")
    msg: Message
    if text and html:
        boundary = "=_lt_" + hashlib.sha256(row.key.encode("utf-8")).hexdigest()[:32]
        msg = MIMEMultipart("alternative", boundary=boundary)
        msg.attach(MIMEText(str(text), "plain", UTF8))  # type: ignore[arg-type]
        msg.attach(MIMEText(str(html), "html", UTF8))  # type: ignore[arg-type]
    else:
        msg = MIMEText(str(text or html), "plain" if text else "html", UTF8)  # type: ignore[arg-type]
    msg["From"] = _address("From", from_addr)
    msg["To"] = _address("To", payload["to"])
    msg["Subject"] = _header("Subject", payload["subject"])
    msg["Date"] = format_datetime(row.due_at)
    msg["Message-ID"] = row.message_id
    headers: Mapping[str, object] = payload.get("headers") or {}
    for name, value in headers.items():
        if name.lower() in RESERVED:
            raise PermanentError(f"email payload header {name!r} is set by the channel")
        msg[name] = _header(name, value)
    unsubscribe = str(msg.get("List-Unsubscribe") or "")
    # RFC 8058 one-click needs an HTTPS URI to POST to; a mailto-only header gets no Post header.
    if "https://" in unsubscribe and msg.get("List-Unsubscribe-Post") is None:
        msg["List-Unsubscribe-Post"] = ONE_CLICK
    return msg


def email_bytes(row: OutboxRow, from_addr: str) -> bytes:
    """The message as sent: `build_email` with CRLF line ends."""
    return build_email(row, from_addr).as_bytes(policy=WIRE)


def _classify(code: int, message: str) -> Exception:
    if 400 <= code < 500:
        return TransientError(f"{code} {message}")
    return PermanentError(f"{code} {message}")


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


class SmtpChannel:
    """Send email through one SMTP server, keeping the connection open between messages."""

    # Positional like smtplib and the settings they come from: host, port, user, password, starttls, from.
    def __init__(  # noqa: PLR0917
        self, host: str, port: int, user: str | None, password: str | None, starttls: bool, from_addr: str,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.from_addr, self.timeout = starttls, from_addr, timeout
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
        to = parseaddr(str(row.payload["to"]))[1]
        for retry in (False, True):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                self._smtp.sendmail(parseaddr(self.from_addr)[1], [to], data)
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
