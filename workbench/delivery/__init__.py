"""Message delivery, a core capability: channels that carry a ``Message``, and a ledger that
remembers what was sent so that a key is never sent twice.

Used by freshness alerts (``workbench.freshness.notify_stale``) and by the sample's
``personalized_messages`` action. A channel only carries a rendered message somewhere;
deciding *what* to send is the caller's job, remembering *what was sent* the ledger's
(``ledger``). A new channel is one class with ``channel``, ``send()`` and ``close()``
(``Delivery``), and one branch in ``make_delivery``.

Channels, chosen by the ``delivery`` option:

* ``outbox`` (default): JSON lines under ``<root>/data/outbox/``, one file per run,
  published atomically (``outbox``);
* ``smtp``: e-mail through ``smtplib``, settings from the ``smtp`` options table or
  ``WORKBENCH_SMTP_*`` environment variables (``smtp``).

``send()`` signals a failure by raising ``DeliveryFailed`` (this message could not be
delivered; try the next) or its child ``ChannelUnavailable`` (the channel itself is down or
misconfigured; stop trying this run); both live in ``workbench.errors``.
"""

from ..errors import ChannelUnavailable, DeliveryFailed
from .channels import CHANNELS, make_delivery
from .ledger import LEDGER, LEDGER_SQL, DeliveryOutcome, deliver, open_ledger, statuses
from .message import Delivery, Message
from .outbox import OUTBOX_DIR, OutboxDelivery
from .smtp import SmtpConfig, SmtpDelivery

__all__ = [
    "CHANNELS",
    "ChannelUnavailable",
    "Delivery",
    "DeliveryFailed",
    "DeliveryOutcome",
    "LEDGER",
    "LEDGER_SQL",
    "Message",
    "OUTBOX_DIR",
    "OutboxDelivery",
    "SmtpConfig",
    "SmtpDelivery",
    "deliver",
    "make_delivery",
    "open_ledger",
    "statuses",
]
