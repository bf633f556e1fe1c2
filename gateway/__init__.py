"""Public REST + SSE gateway ("Space A"). Built under issue 3; nothing here yet."""
