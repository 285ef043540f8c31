"""POP3 as a sans-IO protocol core (RFC 1939, 2449, 2595, 3206, 5034, 6856).

* `commands`: the commands as values and the parser of one line;
* `responses`: `+OK`/`-ERR` lines with response codes, multi-line blocks, dot-stuffing;
* `server.ServerConnection`: line splitting, limits and the AUTHORIZATION → TRANSACTION →
  UPDATE state machine, used by `mailstead.pop3.server`;
* `client.ClientConnection`: command writer and response reader for `mailstead.client`.

No sockets, no store: the servers and the client drive these with bytes.
"""

from mailstead.proto.pop3.client import (
    Challenge,
    ClientConnection,
    MultilineResponse,
    ProtocolError,
    Response,
)
from mailstead.proto.pop3.responses import (
    DotStuffer,
    ResponseCode,
    continuation,
    dot_stuff,
    err,
    multiline,
    ok,
    top_length,
)
from mailstead.proto.pop3.server import (
    NEED_DATA,
    BadCommand,
    ConnectionClosed,
    ServerConnection,
    State,
)

__all__ = [
    "NEED_DATA",
    "BadCommand",
    "Challenge",
    "ClientConnection",
    "ConnectionClosed",
    "DotStuffer",
    "MultilineResponse",
    "ProtocolError",
    "Response",
    "ResponseCode",
    "ServerConnection",
    "State",
    "continuation",
    "dot_stuff",
    "err",
    "multiline",
    "ok",
    "top_length",
]
