"""Sans-IO IMAP4rev2 / IMAP4rev1 server core: bytes in, typed commands out, responses to bytes.

No sockets, no store, no asyncio: ``Connection`` frames and parses what a client sends and
tracks the protocol state; ``response`` renders replies; ``writer`` turns commands back into
bytes (for tests and the client). See ``docs/imap-core.md``.
"""

from . import commands, fetch, mutf7, response, search, writer
from .commands import State
from .connection import (
    NEED_DATA,
    AppendData,
    AppendDone,
    AppendStart,
    AuthenticateResponse,
    Bye,
    CommandError,
    Connection,
    ConnectionClosed,
    ContinuationRequest,
    IdleDone,
    StreamChange,
)
from .limits import Limits
from .parser import ParseContext, ParseError, parse_command
from .sequence import STAR, SequenceSet
from .writer import command_bytes, encode_command

__all__ = [
    "NEED_DATA",
    "STAR",
    "AppendData",
    "AppendDone",
    "AppendStart",
    "AuthenticateResponse",
    "Bye",
    "CommandError",
    "Connection",
    "ConnectionClosed",
    "ContinuationRequest",
    "IdleDone",
    "Limits",
    "ParseContext",
    "ParseError",
    "SequenceSet",
    "State",
    "StreamChange",
    "command_bytes",
    "commands",
    "encode_command",
    "fetch",
    "mutf7",
    "parse_command",
    "response",
    "search",
    "writer",
]
