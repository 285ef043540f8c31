"""Getting mail to its next stop: local mailboxes now; MX lookup, remote SMTP, DSN later."""
