"""The POP3 server: sessions over the store (see `mailstead.pop3.server`)."""
