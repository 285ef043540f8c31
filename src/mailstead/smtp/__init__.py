"""The SMTP server: MX (and later submission) sessions over the `mailstead.proto.smtp` core,
with policy in hooks (`policy.Policy`), trace headers and local delivery."""
