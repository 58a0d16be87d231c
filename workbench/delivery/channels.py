"""Choosing a channel from options: ``make_delivery``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .message import Delivery
from .outbox import OUTBOX_DIR, OutboxDelivery
from .smtp import SmtpConfig, SmtpDelivery

CHANNELS = ("outbox", "smtp")


def make_delivery(options: Mapping[str, Any], root: Path, run_id: str) -> Delivery:
    """The backend named by ``options["delivery"]`` (default ``outbox``).

    ``outbox_dir`` (relative to ``root``, default ``data/outbox``) places the outbox;
    ``smtp`` is the table of ``SmtpConfig`` settings. Building a backend touches nothing
    outside (no folder, no connection), so a dry run can call it to check the configuration.
    """
    channel = options.get("delivery", "outbox")
    if channel == "outbox":
        folder = Path(options.get("outbox_dir", OUTBOX_DIR))
        return OutboxDelivery(folder if folder.is_absolute() else Path(root) / folder, run_id)
    if channel == "smtp":
        return SmtpDelivery(SmtpConfig.from_options(options.get("smtp")))
    raise ConfigError(f"delivery = {channel!r} is not a channel; use one of {list(CHANNELS)}",
                      delivery=channel)
