"""The fault lab: a CA hierarchy and loopback servers that reproduce each fault.

Used by the tests, the benchmarks and `sslfault demo`. Needs no root and no
system packages.
"""
