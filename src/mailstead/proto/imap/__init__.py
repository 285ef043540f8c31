"""Sans-IO IMAP4rev2 / IMAP4rev1 server core: bytes in, typed commands out, responses to bytes.

No sockets, no store, no asyncio: ``Connection`` frames and parses what a client sends and
tracks the protocol state; ``response`` renders replies; ``writer`` turns commands back into
bytes (for tests and the client). See ``docs/imap-core.md``.
"""

from . import commands, fetch, response, search, writer
from .commands import State
from .connection import (
    NEED_DATA,
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
from .sequence import STAR, SequenceSet

__all__ = [
    "NEED_DATA",
    "STAR",
    "AuthenticateResponse",
    "Bye",
    "CommandError",
    "Connection",
    "ConnectionClosed",
    "ContinuationRequest",
    "IdleDone",
    "Limits",
    "SequenceSet",
    "State",
    "StreamChange",
    "commands",
    "fetch",
    "response",
    "search",
    "writer",
]
