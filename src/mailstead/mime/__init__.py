"""MIME analysis: read a message once, answer every IMAP question from what was kept.

    from mailstead.mime import analyse, MessageInfo
    info = analyse(raw)                     # never raises
    blob = info.dumps()                     # what the store keeps beside the message
    info = MessageInfo.loads(blob)
    info.envelope(), info.body_structure(), info.body(), info.section(raw, "1.MIME")

See docs/mime.md for the design.
"""

from .addresses import Address, parse_addresses
from .info import MessageInfo, PartInfo, analyse, analyse_strict
from .sections import partial
from .subject import base_subject
from .text import decode_words

__all__ = [
    "Address",
    "MessageInfo",
    "PartInfo",
    "analyse",
    "analyse_strict",
    "base_subject",
    "decode_words",
    "parse_addresses",
    "partial",
]
