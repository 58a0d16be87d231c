"""Moved to ``workbench.delivery`` (a core capability); this old import path keeps working."""

from ..delivery import (
    CHANNELS,
    ChannelUnavailable,
    Delivery,
    DeliveryFailed,
    Message,
    OutboxDelivery,
    SmtpConfig,
    SmtpDelivery,
    make_delivery,
)

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
