"""`python -m gateway`: serve the gateway with uvicorn."""

import uvicorn

from gateway.app import create_app
from gateway.serving import http_protocol
from shared import logs
from shared.settings import GatewaySettings, load

# The gateway reads X-Forwarded-For itself, from GATEWAY_TRUSTED_PROXIES only
# (gateway.access.client_address): uvicorn's own handling would believe any local peer.
# Requests uvicorn's parser refuses get a JSON 400 too (gateway.serving).
SERVER_OPTIONS = {"proxy_headers": False, "server_header": False, "http": http_protocol()}


def main() -> None:
    logs.configure()
    settings = load(GatewaySettings)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        **SERVER_OPTIONS,  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main()
