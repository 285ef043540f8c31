"""The bounds the IMAP core enforces on whatever a client sends."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Every quantity a client controls, bounded.

    With these limits the core holds at most about ``max_buffered_bytes`` of unparsed input
    plus one command under assembly (``max_command_size``), whatever a client sends.
    """

    # RFC 7162 §4 asks servers to accept command lines of at least 8192 octets; long UID
    # sets from QRESYNC clients are the reason to allow more.
    max_line_length: int = 65_536
    # The largest APPEND message (announced as APPENDLIMIT=, RFC 7889).
    max_literal_size: int = 52_428_800
    # Literals that are not message data (mailbox names, search strings, passwords).
    max_argument_literal_size: int = 65_536
    # Before authentication nobody gets to make us buffer much (RFC 7888 §5).
    max_preauth_literal_size: int = 8_192
    # One command with all its lines and literals (bounds MULTIAPPEND too).
    max_command_size: int = 104_857_600
    # LITERAL- (RFC 7888 §4): non-synchronising literals only up to 4096 octets.
    literal_minus: bool = False
    nonsync_literal_minus_limit: int = 4_096
    # Nesting of parenthesised lists, search-key OR/NOT chains.
    max_nesting_depth: int = 24
    # The session is asked to stop reading when this many complete lines wait unparsed ...
    max_pipelined_commands: int = 64
    # ... or this many bytes; input past it is refused with a BYE.
    max_buffered_bytes: int = 1_048_576
    # Dovecot disconnects after 10 consecutive BADs; a little more patience here.
    max_bad_commands: int = 20
    # APPEND message literals larger than this are not buffered but handed out as
    # AppendStart/AppendData/AppendDone events as they arrive (None: always buffer).
    stream_append_over: int | None = None
