"""Delivery backends for personalised messages: one small interface, two channels.

A backend only carries a rendered ``Message`` somewhere. Deciding *what* to send, and
remembering what was sent, is the ledger's job (``workbench.community.messages``), so a new
channel is one class with ``channel``, ``send()`` and ``close()``::

    class Delivery(Protocol):
        channel: str
        def send(self, message: Message) -> None: ...   # raises DeliveryFailed
        def close(self) -> None: ...

``send()`` signals a failure by raising ``DeliveryFailed`` (this message could not be
delivered; try the next) or its child ``ChannelUnavailable`` (the channel itself is down or
misconfigured; stop trying this run). Every other exception is a bug and propagates.

Channels, chosen by the action's ``delivery`` option:

* ``outbox`` (default): JSON lines under ``<root>/data/outbox/``, one file per run,
  ``outbox-<run_id>.jsonl``. Lines are appended to a hidden ``.outbox-<run_id>.jsonl.part``
  as messages go, and the file is renamed into place when the run closes it, so a reader that
  globs ``outbox-*.jsonl`` never sees half a file. A part file left by a run that crashed is
  completed (its last, unfinished line dropped) and renamed by the next run.
* ``smtp``: e-mail through ``smtplib``, one connection per run, settings from the action's
  ``[options.smtp]`` table or ``WORKBENCH_SMTP_*`` environment variables (see ``SmtpConfig``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import smtplib
import ssl as _ssl
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConfigError, WorkbenchError

__all__ = [
    "Message",
    "Delivery",
    "DeliveryFailed",
    "ChannelUnavailable",
    "OutboxDelivery",
    "SmtpConfig",
    "SmtpDelivery",
    "make_delivery",
    "CHANNELS",
]

CHANNELS = ("outbox", "smtp")
OUTBOX_DIR = Path("data") / "outbox"


@dataclass(frozen=True)
class Message:
    """One rendered message, identified by ``key`` = ``user_id:campaign:period``."""

    key: str
    user_id: int
    email: str
    name: str | None
    campaign: str
    period: str
    subject: str          # one line
    body: str


class DeliveryFailed(WorkbenchError):
    """This message was not delivered (it will be retried). Attributes: ``key``, ``channel``."""

    def __init__(self, message: str, *, key: str | None = None, channel: str | None = None) -> None:
        super().__init__(message, key=key, channel=channel)


class ChannelUnavailable(DeliveryFailed):
    """The channel cannot deliver anything now (server down, bad credentials, bad sender)."""


class Delivery(Protocol):
    """What a delivery backend offers. ``close()`` is called once, even after a failure."""

    channel: str

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


# -- outbox ---------------------------------------------------------------------------------
class OutboxDelivery:
    """Append messages as JSON lines to this run's outbox file; publish it on ``close()``.

    Creates nothing until the first ``send()``, so a run with nothing to send leaves no file.
    """

    channel = "outbox"

    def __init__(self, folder: Path, run_id: str) -> None:
        self.folder = Path(folder)
        self.run_id = run_id
        self.path: Path | None = None        # the published file, once chosen
        self._part: Path | None = None
        self._file = None
        self._torn = False                   # a write failed: the last line may be partial

    def send(self, message: Message) -> None:
        if self._file is None:
            self._open()
        line = json.dumps({**asdict(message), "channel": self.channel, "run_id": self.run_id},
                          ensure_ascii=False)
        try:
            self._file.write(line + "\n")
            # Flushed per message: the ledger says "sent" right after this returns, and a
            # crash must not leave a message the ledger counts as sent only in our buffer.
            self._file.flush()
        except OSError as exc:
            self._torn = True
            raise ChannelUnavailable(f"cannot write {self._part}: {exc}", key=message.key,
                                     channel=self.channel) from exc

    def close(self) -> None:
        if self._file is None:
            return
        try:
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
            self._file = None
        if self._torn and not _keep_complete_lines(self._part):
            self._part.unlink()
            return
        os.replace(self._part, self.path)

    def _open(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _recover_parts(self.folder)
            self.path = _free_name(self.folder, f"outbox-{_safe(self.run_id)}")
            self._part = self.folder / f".{self.path.name}.part"
            self._file = open(self._part, "a", encoding="utf-8")
        except OSError as exc:
            raise ChannelUnavailable(f"cannot open the outbox in {self.folder}: {exc}",
                                     channel=self.channel) from exc


def _recover_parts(folder: Path) -> None:
    """Publish what a crashed run appended: every complete line of each leftover part file."""
    for part in sorted(folder.glob(".outbox-*.jsonl.part")):
        if _keep_complete_lines(part):
            os.replace(part, _free_name(folder, part.name[1:-len(".jsonl.part")], part))
        else:
            part.unlink()


def _keep_complete_lines(path: Path) -> bool:
    """Cut a partial last line off ``path``; return whether any complete line is left."""
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with open(path, "r+b") as file:
            file.truncate(len(complete))
            os.fsync(file.fileno())
    return bool(complete)


def _free_name(folder: Path, stem: str, recovering: Path | None = None) -> Path:
    """``stem.jsonl``, or ``stem.2.jsonl``... if a run id was reused: never overwrite a file."""

    def taken(path: Path) -> bool:
        part = folder / f".{path.name}.part"
        return path.exists() or (part != recovering and part.exists())

    path, n = folder / f"{stem}.jsonl", 1
    while taken(path):
        n += 1
        path = folder / f"{stem}.{n}.jsonl"
    return path


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


# -- smtp -----------------------------------------------------------------------------------
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

    The Message-ID is derived from the message key, so if a crash ever makes the ledger send
    a message twice, the receiving side can recognise the duplicate.
    """

    channel = "smtp"

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None
        self._domain = parseaddr(config.sender)[1].rpartition("@")[2] or "workbench.local"

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
        email = EmailMessage()
        email["From"] = self.config.sender
        email["To"] = formataddr((message.name or "", message.email))
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        digest = hashlib.sha256(message.key.encode()).hexdigest()[:24]
        email["Message-ID"] = f"<{digest}.{_safe(message.campaign)}@{self._domain}>"
        email["X-Workbench-Key"] = message.key
        email.set_content(message.body)
        return email

    def _failure(self, message: Message, exc: BaseException) -> DeliveryFailed:
        """Translate an smtplib error: this message refused, or the whole channel down."""
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, reason = next(iter(exc.recipients.values()))
            return DeliveryFailed(f"{message.email} refused: {code} {_text(reason)}",
                                  key=message.key, channel=self.channel)
        if isinstance(exc, smtplib.SMTPDataError):
            return DeliveryFailed(f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}",
                                  key=message.key, channel=self.channel)
        # Sender refused, authentication, TLS, connection refused, timeout, disconnected:
        # nothing else this run would get through either.
        self._drop()
        c = self.config
        return ChannelUnavailable(f"smtp {c.host}:{c.port}: {type(exc).__name__}: {exc}",
                                  key=message.key, channel=self.channel)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


# -- choosing -------------------------------------------------------------------------------
def make_delivery(options: Mapping[str, Any], root: Path, run_id: str) -> Delivery:
    """The backend named by ``options["delivery"]`` (default ``outbox``).

    Building it touches nothing outside (no folder, no connection), so a dry run can call
    it to check the configuration.
    """
    channel = options.get("delivery", "outbox")
    if channel == "outbox":
        folder = Path(options.get("outbox_dir", OUTBOX_DIR))
        return OutboxDelivery(folder if folder.is_absolute() else Path(root) / folder, run_id)
    if channel == "smtp":
        return SmtpDelivery(SmtpConfig.from_options(options.get("smtp")))
    raise ConfigError(f"delivery = {channel!r} is not a channel; use one of {list(CHANNELS)}",
                      delivery=channel)
