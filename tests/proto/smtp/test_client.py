"""The client state machine against the server state machine, no sockets at all."""

from __future__ import annotations

from mailstead.proto.smtp import (
    Mail,
    MessageReceived,
    Rcpt,
    Reply,
    ServerConnection,
    ServerOptions,
    StartTLSRequested,
)
from mailstead.proto.smtp.client import ClientConnection, ClientEvent

MESSAGE = b"Subject: hi\r\n\r\n.dot line\r\nbody\r\n"


class Pair:
    def __init__(self, **options: object) -> None:
        self.server = ServerConnection(ServerOptions("mx.test", **options))  # type: ignore[arg-type]
        self.client = ClientConnection("client.test")
        self.messages: list[MessageReceived] = []
        self.server_reads: list[bytes] = []
        self.server.greet()

    def answer(self, event: object) -> Reply:
        if isinstance(event, Mail):
            return Reply(250, "Ok", "2.1.0")
        if isinstance(event, Rcpt):
            if event.recipient.local == "nobody":
                return Reply(550, "no such user", "5.1.1")
            return Reply(250, "Ok", "2.1.5")
        assert isinstance(event, MessageReceived)
        self.messages.append(event)
        return Reply(250, "Ok: queued as Q1", "2.0.0")

    def run(self) -> list[ClientEvent]:
        """Move bytes both ways until neither side has anything to say."""
        events: list[ClientEvent] = []
        while True:
            to_client = self.server.data_to_send()
            if to_client:
                events += self.client.receive(to_client)
            to_server = self.client.data_to_send()
            if to_server:
                self.server_reads.append(to_server)
                self.server.receive(to_server)
                while (event := self.server.next_event()) is not None:
                    if isinstance(event, StartTLSRequested):
                        break  # the test plays the handshake
                    self.server.respond(self.answer(event))
            if not to_client and not to_server:
                return events


def kinds(events: list[ClientEvent]) -> list[tuple[str, int]]:
    return [(e.kind, e.reply.code) for e in events]


def test_pipelined_transaction_with_bdat() -> None:
    p = Pair()
    p.run()
    p.client.ehlo()
    (ehlo,) = p.run()
    assert ehlo.extensions is not None and "CHUNKING" in ehlo.extensions
    p.client.send_message("a@remote.test", ["u@d.test", "nobody@d.test"], MESSAGE)
    events = p.run()
    assert kinds(events) == [("mail", 250), ("rcpt", 250), ("rcpt", 550), ("message", 250)]
    assert events[-1].accepted == ("u@d.test",)
    assert len(p.server_reads) == 2  # EHLO, then the whole transaction in one write
    assert p.server_reads[1].startswith(b"MAIL FROM:<a@remote.test> SIZE=%d\r\n" % len(MESSAGE))
    assert p.messages[0].message == MESSAGE and p.messages[0].via == "BDAT"


def test_data_when_no_chunking() -> None:
    p = Pair()
    p.run()
    p.client.ehlo()
    p.run()
    assert p.client.extensions is not None
    p.client.extensions.keywords.pop("CHUNKING")
    p.client.send_message("a@remote.test", ["u@d.test"], MESSAGE)
    events = p.run()
    assert kinds(events) == [("mail", 250), ("rcpt", 250), ("data", 354), ("message", 250)]
    assert p.messages[0].message == MESSAGE and p.messages[0].via == "DATA"


def test_not_pipelined_one_command_per_reply() -> None:
    p = Pair()
    p.run()
    p.client.helo()
    assert kinds(p.run()) == [("helo", 250)]
    p.client.send_message("a@remote.test", ["u@d.test", "v@d.test"], MESSAGE)
    events = p.run()
    assert kinds(events) == [("mail", 250), ("rcpt", 250), ("rcpt", 250), ("data", 354), ("message", 250)]
    assert len(p.server_reads) == 1 + 5  # HELO, then each command alone


def test_all_recipients_refused() -> None:
    p = Pair()
    p.run()
    p.client.helo()
    p.run()
    p.client.send_message("a@remote.test", ["nobody@d.test"], MESSAGE)
    assert kinds(p.run()) == [("mail", 250), ("rcpt", 550), ("rset", 250)]
    p.client.ehlo()
    p.run()
    p.client.send_message("a@remote.test", ["nobody@d.test"], MESSAGE)
    events = p.run()
    assert kinds(events) == [("mail", 250), ("rcpt", 550), ("message", 554)]
    assert events[-1].accepted == () and p.messages == []


def test_quit_and_greeting() -> None:
    p = Pair()
    assert kinds(p.run()) == [("greeting", 220)]
    p.client.quit()
    assert kinds(p.run()) == [("quit", 221)]
    assert p.client.waiting == 0


def test_starttls_and_auth_pairing() -> None:
    p = Pair(starttls=True, auth_mechanisms=("PLAIN",))
    p.run()
    p.client.ehlo()
    p.run()
    p.client.starttls()
    assert kinds(p.run()) == [("starttls", 220)]
    p.server.tls_started()
    p.client.tls_started()
    assert p.client.extensions is None
    p.client.ehlo()
    (ehlo,) = p.run()
    assert ehlo.extensions is not None and ehlo.extensions.auth_mechanisms == ("PLAIN",)
    p.client.auth_plain("AHVAZC50ZXN0AHB3")
    p.server.receive(p.client.data_to_send())
    event = p.server.next_event()
    assert event is not None
    p.server.respond(Reply(235, "Authentication successful", "2.7.0"))
    assert kinds(p.run()) == [("auth", 235)]
