"""What a channel carries, and what a channel offers: ``Message`` and ``Delivery``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """One rendered message, identified by ``key`` (the ledger's idempotence key).

    Personalised messages use ``user_id:campaign:period``; freshness alerts use
    ``stale:<source>:<last load>``.
    """

    key: str
    user_id: int
    email: str
    name: str | None
    campaign: str
    period: str
    subject: str          # one line
    body: str


class Delivery(Protocol):
    """What a delivery backend offers. ``close()`` is called once, even after a failure.

    ``send()`` raises ``DeliveryFailed`` when this message could not be delivered (try the
    next) or its child ``ChannelUnavailable`` when the channel itself is down or misconfigured
    (stop trying this run). Every other exception is a bug and propagates.

    ``target`` names where the next message goes (the outbox's file, the SMTP server); the
    ledger records it with its intent to send. ``recover()`` finishes what a killed run of
    this channel left half done; the ledger calls it once, before the first send, after it
    has settled the keys that run left in doubt.

    A channel that can take a chunk at once may also offer ``send_many(messages) ->
    (written, error)``: how many of the messages it delivered, in order, and the
    ``ChannelUnavailable`` that stopped the rest (or None). The outbox does: one write per
    chunk of thousands instead of one per message.
    """

    channel: str

    @property
    def target(self) -> str: ...

    def recover(self) -> None: ...

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...
