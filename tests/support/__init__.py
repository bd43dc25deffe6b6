"""Test helpers, one module per concern (imported as tests.support.<module>)."""
