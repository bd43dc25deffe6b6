"""The HTTP side: /metrics, API, /probe, status page, web config."""
