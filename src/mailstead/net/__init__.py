"""Networking shared by every protocol server: TLS contexts, connection limits, listeners."""
