"""Policy hooks: what the SMTP server accepts, kept out of the protocol (the aiosmtpd idea).

A `Policy` answers MAIL, RCPT and the finished message. The MX policy (`MxPolicy`) takes
mail for local domains only; submission will plug in another policy (authenticated senders,
relay through the queue) over the very same session code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from mailstead.delivery.local import LocalRecipient, build_delivery, deliver_locally
from mailstead.proto.smtp import Envelope, Mail, Rcpt, Reply
from mailstead.proto.smtp.paths import Address
from mailstead.smtp.trace import received_header, with_protocol
from mailstead.store import NotFound

if TYPE_CHECKING:
    from mailstead.server import ServerContext
    from mailstead.smtp.session import SMTPSession
    from mailstead.store import DeliveredCopy, Delivery

log = logging.getLogger("mailstead.smtp")

MAIL_OK = Reply(250, "Ok", "2.1.0")
RCPT_OK = Reply(250, "Ok", "2.1.5")
STORE_FAILED = Reply(451, "Error: could not store the message, try again later", "4.3.0")
NO_RECIPIENT_LEFT = Reply(451, "Error: no recipient left to deliver to, try again later", "4.3.0")
# Attempts at storing a message whose recipients keep vanishing (deleted while it arrives).
MAX_DELIVERY_ATTEMPTS = 3


def relay_denied(recipient: str) -> Reply:
    return Reply(554, f"<{recipient}>: Relay access denied", "5.7.1")


def lookup_key(address: Address) -> str:
    """What `store.resolve_recipient` is asked for a local recipient."""
    if address.is_bare_postmaster:
        return "postmaster"
    return f"{address.unquoted_local}@{address.domain}"


HookResult = Reply | Awaitable[Reply]
RcptResult = tuple[Reply, Any] | Awaitable[tuple[Reply, Any]]


class Policy:
    """Accept-nothing base; override the hooks. A hook answers at once (returns the reply)
    or, when it must wait for the store, DNS or the queue, returns an awaitable (write it
    as `async def`); the session handles both, and skips a task for the first kind."""

    #: Offer AUTH (PLAIN, LOGIN) on this service.
    offers_auth = True
    #: MAIL only after AUTH (submission).
    requires_auth = False

    def on_mail(self, session: SMTPSession, mail: Mail) -> HookResult:
        return MAIL_OK

    def on_rcpt(self, session: SMTPSession, envelope: Envelope, rcpt: Rcpt) -> RcptResult:
        """The reply, and data kept with an accepted recipient (handed back in on_message
        as `envelope.recipient_data`)."""
        return Reply(550, "Error: no recipients accepted here", "5.7.1"), None

    def on_message(self, session: SMTPSession, envelope: Envelope, message: bytes) -> HookResult:
        return Reply(554, "Error: no messages accepted here", "5.7.1")


class MxPolicy(Policy):
    """Port 25: local domains only; relaying only for authenticated clients, through the
    `on_relay_rcpt` hook (the outbound queue plugs in there)."""

    # Seconds a successful recipient lookup is reused. Only hits are cached, so a user or
    # alias added from the CLI works at once; one removed may still get mail this long
    # (delivery then fails with 451 and the sender retries into a 550).
    LOOKUP_TTL = 2.0
    MAX_CACHED = 10_000

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.hostname = ctx.config.hostname
        self._resolved: dict[str, tuple[float, list[Any]]] = {}

    def on_rcpt(self, session: SMTPSession, envelope: Envelope, rcpt: Rcpt) -> RcptResult:
        address = rcpt.recipient
        if not address.is_bare_postmaster and not address.source_route and not address.has_routing_hack:
            key = lookup_key(address).lower()
            hit = self._resolved.get(key)
            if hit is not None and hit[0] > time.monotonic():
                return RCPT_OK, LocalRecipient(str(address), hit[1])
        return self._lookup_rcpt(session, envelope, rcpt)

    def _remember(self, key: str, accounts: list[Any]) -> None:
        if len(self._resolved) >= self.MAX_CACHED:
            self._resolved.clear()
        self._resolved[key.lower()] = (time.monotonic() + self.LOOKUP_TTL, accounts)

    async def _lookup_rcpt(self, session: SMTPSession, envelope: Envelope, rcpt: Rcpt) -> tuple[Reply, Any]:
        address = rcpt.recipient
        text = str(address)
        qid = envelope.extra.get("queue_id", "-")
        if address.is_bare_postmaster:
            # RFC 5321 §4.5.1: <postmaster> without a domain must always be accepted.
            accounts = await self.store.resolve_recipient("postmaster")
            if accounts:
                return RCPT_OK, LocalRecipient(text, accounts)
            log.warning("%s: no account to deliver <postmaster> to", qid)
            return Reply(451, "Error: postmaster is not configured", "4.3.0"), None
        routed = bool(address.source_route) or address.has_routing_hack
        local = not routed and not address.literal and await self.store.is_local_domain(address.domain)
        if not local:
            if session.authenticated is not None:
                return await self.on_relay_rcpt(session, envelope, rcpt)
            log.info("%s: reject RCPT <%s> from %s: relay access denied", qid, text, session.client_ip)
            return relay_denied(text), None
        lookup = lookup_key(address)
        accounts = await self.store.resolve_recipient(lookup)
        if not accounts:
            log.info("%s: reject RCPT <%s> from %s: user unknown", qid, text, session.client_ip)
            return Reply(550, f"<{text}>: Recipient address rejected: User unknown", "5.1.1"), None
        self._remember(lookup, accounts)
        return RCPT_OK, LocalRecipient(text, accounts)

    async def on_relay_rcpt(self, session: SMTPSession, envelope: Envelope, rcpt: Rcpt) -> tuple[Reply, Any]:
        """An authenticated client sends to a remote domain. There is no outbound queue yet:
        refuse temporarily (the client keeps the message and can retry once relaying
        exists); the queue will override this hook."""
        return Reply(451, f"<{rcpt.recipient}>: outbound relay is not available yet", "4.3.5"), None

    def received(self, session: SMTPSession, envelope: Envelope) -> bytes:
        qid = envelope.extra["queue_id"]
        return received_header(
            helo=session.conn.helo_name,
            client_ip=session.client_ip,
            client_name=None,
            hostname=self.hostname,
            protocol=with_protocol(session.conn.esmtp, session.tls_info is not None,
                                   session.authenticated is not None, envelope.smtputf8),
            queue_id=qid,
            tls=session.tls_info,
            recipient=str(envelope.recipients[0].recipient) if len(envelope.recipients) == 1 else None,
        )

    async def on_message(self, session: SMTPSession, envelope: Envelope, message: bytes) -> Reply:
        qid = envelope.extra["queue_id"]
        blob = self.received(session, envelope) + message
        sender = str(envelope.sender)
        local = [r for r in envelope.recipient_data if isinstance(r, LocalRecipient)]
        detail = f"from=<{sender}> size={len(message)} nrcpt={len(envelope.recipients)} client={session.client_ip}"
        # The "received" journey record is committed with the delivery (one write to the
        # store's next group commit; the 250 waits for it).
        journey = (("received", detail),)
        delivery = build_delivery(qid, sender, blob, local, _crlf_only(envelope), journey)
        stored: list[DeliveredCopy] | Exception
        try:
            stored = await deliver_locally(self.store, delivery)
        except Exception as exc:  # judged below
            stored = exc
        attempt = 1
        while isinstance(stored, NotFound):
            # An account was deleted between its RCPT and the end of the message. The
            # others must still get their copy: resolve everyone again and store for those
            # who are left (the delivery is atomic, so nothing was stored yet).
            if attempt >= MAX_DELIVERY_ATTEMPTS:
                break
            attempt += 1
            retry = await self._without_vanished(qid, sender, blob, envelope, journey)
            if retry is None:
                await self._record_unstored(qid, detail)
                return NO_RECIPIENT_LEFT
            delivery = retry
            try:
                stored = await deliver_locally(self.store, delivery)
            except Exception as exc:  # judged just below, like the first try
                stored = exc
        if isinstance(stored, Exception):
            log.error("%s: storing the message failed", qid, exc_info=stored)
            await self._record_unstored(qid, detail)
            return STORE_FAILED
        log.info("%s: delivered %s, %d mailbox(es)", qid, detail, len(delivery.copies))
        return Reply(250, f"Ok: queued as {qid}", "2.0.0")

    async def _record_unstored(self, qid: str, detail: str) -> None:
        """The "received" record of a message that was not stored (its delivery, and the
        record with it, rolled back): best effort, the store may be what failed."""
        try:
            await self.store.record_journey(qid, "received", detail)
        except Exception:
            log.warning("%s: cannot record the journey either", qid, exc_info=True)

    async def _without_vanished(
        self, qid: str, sender: str, blob: bytes, envelope: Envelope,
        journey: Sequence[tuple[str, str]],
    ) -> Delivery | None:
        """The delivery for the recipients that still resolve to an account, None if none
        does. Each account that went away is logged (a warning: a user deleted while mail
        for them arrives is an event, not an internal error) and put in the journey."""
        remaining: list[LocalRecipient] = []
        for rcpt, data in zip(envelope.recipients, envelope.recipient_data, strict=True):
            if not isinstance(data, LocalRecipient):
                continue
            key = lookup_key(rcpt.recipient)
            self._resolved.pop(key.lower(), None)  # the cached hit is what went stale
            accounts = await self.store.resolve_recipient(key)
            now = {account.id for account in accounts}
            for gone in [account for account in data.accounts if account.id not in now]:
                log.warning("%s: <%s> (account %s) was deleted before the message was "
                            "stored; not delivered to it", qid, data.address, gone.address)
                await self.store.record_journey(
                    qid, "vanished", f"{data.address} -> {gone.address}: account deleted "
                    "before the message was stored, not delivered")
            if accounts:
                remaining.append(LocalRecipient(data.address, accounts))
        if not remaining:
            log.warning("%s: every recipient was deleted before the message was stored", qid)
            return None
        return build_delivery(qid, sender, blob, remaining, _crlf_only(envelope), journey)


def _crlf_only(envelope: Envelope) -> bool:
    """The core let no bare CR or LF through (RFC 5321 §2.3.8) unless BODY=BINARYMIME; our
    Received: and trace headers are CRLF-only too."""
    return envelope.mail.params.body != "BINARYMIME"
