"""The SMTP protocol core, sans-IO: command parsing, paths, replies, DATA/BDAT reading and
the server state machine, plus the client's command writer and reply parser.

Nothing here touches a socket, the store or the clock: `mailstead.smtp` drives the server
side over asyncio, the outbound relay and the mail client drive the client side.
"""

from mailstead.proto.smtp.client import ClientConnection, ClientEvent, Extensions, parse_ehlo
from mailstead.proto.smtp.commands import (
    Auth,
    Bdat,
    CommandError,
    Data,
    Ehlo,
    Expn,
    Helo,
    Help,
    Mail,
    MailParams,
    Noop,
    Quit,
    Rcpt,
    RcptParams,
    Rset,
    StartTLS,
    Vrfy,
    parse_command,
)
from mailstead.proto.smtp.data import DotReader, dot_stuff, has_bare_newline
from mailstead.proto.smtp.errors import SMTPProtocolError
from mailstead.proto.smtp.paths import NULL_ADDRESS, Address, PathError, parse_mailbox, parse_path
from mailstead.proto.smtp.replies import Reply, ReplyParser, parse_replies, write_reply
from mailstead.proto.smtp.server import (
    AuthResponse,
    Envelope,
    MessageReceived,
    ServerConnection,
    ServerOptions,
    StartTLSRequested,
    State,
)

__all__ = [
    "NULL_ADDRESS",
    "Address",
    "Auth",
    "AuthResponse",
    "Bdat",
    "ClientConnection",
    "ClientEvent",
    "CommandError",
    "Data",
    "DotReader",
    "Ehlo",
    "Envelope",
    "Expn",
    "Extensions",
    "Helo",
    "Help",
    "Mail",
    "MailParams",
    "MessageReceived",
    "Noop",
    "PathError",
    "Quit",
    "Rcpt",
    "RcptParams",
    "Reply",
    "ReplyParser",
    "Rset",
    "SMTPProtocolError",
    "ServerConnection",
    "ServerOptions",
    "StartTLS",
    "StartTLSRequested",
    "State",
    "Vrfy",
    "dot_stuff",
    "has_bare_newline",
    "parse_command",
    "parse_ehlo",
    "parse_mailbox",
    "parse_path",
    "parse_replies",
    "write_reply",
]
