"""Python's imaplib, a real client, talking to a toy session loop around the core.

The two ends are a ``socket.socketpair()``: real sockets, no network address. The loop is
the shape the IMAP server will have: feed bytes, act on events, write ``complete(...)``.
"""

from __future__ import annotations

import contextlib
import imaplib
import socket
import threading

from mailstead.proto.imap import (
    NEED_DATA,
    CommandError,
    ConnectionClosed,
    ContinuationRequest,
    response,
)
from mailstead.proto.imap import Connection as ImapConnection
from mailstead.proto.imap import commands as c

MESSAGE = b"Subject: hello\r\nFrom: a@example.test\r\n\r\nBody line\r\n"


def serve(sock: socket.socket, seen: list) -> None:
    conn = ImapConnection()
    sock.sendall(response.untagged_status("OK", "toy ready"))
    stored: list[bytes] = []
    with sock:
        while True:
            data = sock.recv(65536)
            if not data:
                conn.receive_eof()
            conn.receive_data(data)
            while (event := conn.next_event()) is not NEED_DATA:
                seen.append(event)
                if isinstance(event, ContinuationRequest | CommandError):
                    sock.sendall(event.data)
                elif isinstance(event, ConnectionClosed):
                    return
                elif isinstance(event, c.Capability):
                    sock.sendall(response.capability(["IMAP4rev1", "LITERAL+"]))
                    sock.sendall(conn.complete(event))
                elif isinstance(event, c.Select):
                    sock.sendall(response.exists(len(stored)))
                    sock.sendall(response.untagged_status("OK", "UIDs valid", code="UIDVALIDITY 7"))
                    sock.sendall(conn.complete(event, code="READ-WRITE"))
                elif isinstance(event, c.Append):
                    stored.extend(m.data for m in event.messages)
                    sock.sendall(conn.complete(event, code="APPENDUID 7 1"))
                elif isinstance(event, c.Fetch):
                    for number, message in enumerate(stored, 1):
                        item = (
                            response.FetchResponse(number)
                            .add_number(b"UID", number)
                            .add_flags(["\\Seen"])
                            .add_literal(event.attributes[-1].response_key(), memoryview(message))
                        )
                        sock.sendall(b"".join(item.chunks()))
                    sock.sendall(conn.complete(event))
                elif isinstance(event, c.Search):
                    sock.sendall(response.search(range(1, len(stored) + 1)))
                    sock.sendall(conn.complete(event))
                elif isinstance(event, c.Logout):
                    # imaplib may hang up as soon as it has read the tagged OK.
                    with contextlib.suppress(OSError):
                        sock.sendall(response.untagged_status("BYE", "bye") + conn.complete(event))
                    return
                elif isinstance(event, c.Command):
                    sock.sendall(conn.complete(event))


class PairIMAP4(imaplib.IMAP4):
    def __init__(self, sock: socket.socket) -> None:
        self._pair = sock
        super().__init__()

    def open(self, host: str = "", port: int = 0, timeout: float | None = None) -> None:
        self.host, self.port = host, port
        self.sock = self._pair
        self.file = self.sock.makefile("rb")


def test_imaplib_session() -> None:
    client_end, server_end = socket.socketpair()
    client_end.settimeout(10)
    seen: list = []
    thread = threading.Thread(target=serve, args=(server_end, seen), daemon=True)
    thread.start()
    imap = PairIMAP4(client_end)
    assert imap.login("joe@example.test", 'pa ss"word')[0] == "OK"
    assert imap.select("INBOX")[0] == "OK"
    assert imap.append("INBOX", "(\\Seen)", None, MESSAGE)[0] == "OK"
    typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert typ == "OK" and data[0][1] == MESSAGE
    assert imap.search(None, "ALL") == ("OK", [b"1"])
    assert imap.noop()[0] == "OK"
    imap.logout()
    thread.join(10)
    commands = [e for e in seen if isinstance(e, c.Command)]
    assert [type(e) for e in commands] == [
        c.Capability, c.Login, c.Select, c.Append, c.Fetch, c.Search, c.Noop, c.Logout,
    ]  # fmt: skip
    assert commands[1].password == 'pa ss"word'
    assert commands[3].messages == (c.AppendMessage(MESSAGE, ("\\Seen",)),)
    assert any(isinstance(e, ContinuationRequest) for e in seen)  # imaplib waits for "+"
