"""`python -m factory`: serve the factory with uvicorn on the configured host and port."""

import uvicorn

from factory.app import create_app
from shared import logs
from shared.settings import FactorySettings, load


def main() -> None:
    logs.configure()
    settings = load(FactorySettings)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
