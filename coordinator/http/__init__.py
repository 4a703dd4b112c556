"""The HTTP side: the web console, /metrics, /healthz and /readyz (aiohttp)."""
