"""Mailstead: a complete mail system in one package."""

__version__ = "0.1.0"
