"""`python -m gateway`: serve the gateway with uvicorn."""

import uvicorn

from gateway.app import create_app
from gateway.serving import http_protocol
from shared import logs
from shared.settings import GatewaySettings


def main() -> None:
    logs.configure()
    settings = GatewaySettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        http=http_protocol(),
    )


if __name__ == "__main__":
    main()
