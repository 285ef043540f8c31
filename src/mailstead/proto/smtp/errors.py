"""Errors of the SMTP core."""

from __future__ import annotations


class SMTPProtocolError(Exception):
    """The peer broke the protocol in a way the core cannot recover from (client role)."""
