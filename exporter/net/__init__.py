"""Low-level network helpers shared by checks: DNS, TLS capture, bounded HTTP."""
