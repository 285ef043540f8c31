"""Accounts' credentials: argon2id hashes, SASL mechanisms, failure throttling.

Public API (used by SMTP AUTH, POP3, IMAP and the CLI):

* `mailstead.auth.passwords`: `hash_password(password, config) -> str`,
  `verify_password(hash, password) -> bool` (synchronous; argon2id).
* `mailstead.auth.authenticator.Authenticator(store, auth_config)`:
  `await authenticate(username, password, remote_ip) -> Account | None`; verification runs
  off the event loop under a concurrency cap, successes are cached briefly, failures are
  throttled per client address and per user (`is_throttled(remote_ip, username)`).
* `mailstead.auth.sasl`: decoding of SASL PLAIN (RFC 4616) and LOGIN exchanges.
"""
