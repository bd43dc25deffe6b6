"""The fault catalog (ids, severities, remedies en/zh) and runbooks, as data."""
