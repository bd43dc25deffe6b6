"""Certificates: facts, host-name matching, roots, path building, AIA completion, verdicts."""
