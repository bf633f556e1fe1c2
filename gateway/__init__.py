"""Public REST + SSE gateway ("Space A"): validates, scrapes, enqueues, relays events."""
