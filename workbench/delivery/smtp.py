"""The ``smtp`` channel: each message a plain-text e-mail, one connection per run.

Settings come from the caller's ``smtp`` options table or ``WORKBENCH_SMTP_*`` environment
variables (see ``SmtpConfig``).
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl as _ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from ..errors import ChannelUnavailable, ConfigError, DeliveryFailed
from .message import Message
from .outbox import safe_name


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send e-mail. Each field can come from ``WORKBENCH_SMTP_<FIELD>``."""

    host: str
    sender: str                       # From: address, "Name <addr>" or "addr"
    port: int = 25                    # 587 for STARTTLS submission, 465 for implicit TLS
    username: str | None = None       # log in only when set
    password: str | None = field(default=None, repr=False)   # prefer the environment
    starttls: bool = False            # upgrade a plain connection with STARTTLS
    ssl: bool = False                 # implicit TLS from the first byte (SMTP_SSL)
    timeout: float = 30.0             # seconds per network operation

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None,
                     env: Mapping[str, str] | None = None) -> SmtpConfig:
        """Read ``options`` (the action's ``smtp`` table), falling back to the environment.

        Options win over environment variables; a secret such as the password is best kept
        in ``WORKBENCH_SMTP_PASSWORD`` only.
        """
        options = dict(options or {})
        env = os.environ if env is None else env
        unknown = set(options) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ConfigError(f"unknown smtp option(s) {sorted(unknown)}; expected some of "
                              f"{sorted(cls.__dataclass_fields__)}", options=sorted(unknown))

        def get(name: str) -> Any:
            value = options.get(name)
            return env.get(f"WORKBENCH_SMTP_{name.upper()}") if value is None else value

        missing = [n for n in ("host", "sender") if not get(n)]
        if missing:
            raise ConfigError(
                "smtp delivery needs " + " and ".join(missing) + ": set them in the action's "
                "options table (smtp = {host = ..., sender = ...}) or in "
                + " / ".join(f"WORKBENCH_SMTP_{n.upper()}" for n in missing), missing=missing)
        try:
            use_ssl = _flag(get("ssl"), False)
            port = get("port")
            return cls(host=str(get("host")), sender=str(get("sender")),
                       port=int(port) if port not in (None, "") else (465 if use_ssl else 25),
                       username=get("username") or None, password=get("password") or None,
                       starttls=_flag(get("starttls"), False), ssl=use_ssl,
                       timeout=float(get("timeout") or 30.0))
        except ValueError as exc:
            raise ConfigError(f"bad smtp setting: {exc}") from exc


def _flag(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


class SmtpDelivery:
    """Send each message as a plain-text e-mail over one SMTP connection, opened lazily.

    The Message-ID is derived from the message key, so if a kill ever makes the ledger send
    a message twice (at most one per kill, see ``ledger``), the receiver can recognise it.
    A message that cannot be made into an e-mail (a header with a line break, say) fails
    alone, with its reason; the connection and the messages after it carry on.
    """

    channel = "smtp"

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None
        self._domain = parseaddr(config.sender)[1].rpartition("@")[2] or "workbench.local"

    @property
    def target(self) -> str:
        return f"smtp://{self.config.host}:{self.config.port}"

    def recover(self) -> None:
        """Nothing to finish: an SMTP server cannot be asked what it received, so the one
        message a killed run left in doubt is simply sent again."""

    def send(self, message: Message) -> None:
        email = self._email(message)
        reused = self._smtp is not None
        try:
            self._connection().send_message(email)
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            if not reused:
                raise self._failure(message, exc) from exc
            # An idle connection the server closed between messages: reconnect once.
            try:
                self._connection().send_message(email)
            except (smtplib.SMTPException, OSError) as again:
                raise self._failure(message, again) from again
        except (smtplib.SMTPException, OSError) as exc:
            raise self._failure(message, exc) from exc

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            c = self.config
            if c.ssl:
                smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout,
                                        context=_ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            try:
                if c.starttls and not c.ssl:
                    smtp.starttls(context=_ssl.create_default_context())
                if c.username:
                    smtp.login(c.username, c.password or "")
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            except OSError:
                pass
        self._smtp = None

    def _email(self, message: Message) -> EmailMessage:
        """The e-mail of ``message``; ``DeliveryFailed`` naming the header that cannot be
        written (the standard library refuses line breaks and malformed addresses)."""
        digest = hashlib.sha256(message.key.encode()).hexdigest()[:24]
        email = EmailMessage()
        for header, value in (
                ("From", lambda: self.config.sender),
                ("To", lambda: formataddr((message.name or "", message.email))),
                ("Subject", lambda: message.subject),
                ("Date", lambda: formatdate(localtime=False)),
                ("Message-ID",
                 lambda: f"<{digest}.{safe_name(message.campaign)}@{self._domain}>"),
                ("X-Workbench-Key", lambda: message.key)):
            try:
                email[header] = value()
            except (ValueError, TypeError, UnicodeError, MessageError) as exc:
                raise DeliveryFailed(
                    f"cannot write the e-mail for {message.key}: its {header} header is "
                    f"invalid ({type(exc).__name__}: {_short(exc)})", key=message.key,
                    channel=self.channel) from exc
        email.set_content(message.body)
        return email

    def _failure(self, message: Message, exc: BaseException) -> DeliveryFailed:
        """Translate an smtplib error: this message refused, or the whole channel down."""
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, reason = next(iter(exc.recipients.values()))
            return DeliveryFailed(f"{message.email} refused: {code} {_text(reason)}",
                                  key=message.key, channel=self.channel)
        if isinstance(exc, smtplib.SMTPNotSupportedError):     # e.g. an address needs SMTPUTF8
            return DeliveryFailed(f"{message.email}: {exc}", key=message.key,
                                  channel=self.channel)
        if isinstance(exc, smtplib.SMTPDataError):
            return DeliveryFailed(f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}",
                                  key=message.key, channel=self.channel)
        # Sender refused, authentication, TLS, connection refused, timeout, disconnected:
        # nothing else this run would get through either.
        self._drop()
        c = self.config
        return ChannelUnavailable(f"smtp {c.host}:{c.port}: {type(exc).__name__}: {exc}",
                                  key=message.key, channel=self.channel)


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
