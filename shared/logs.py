"""Log lines of the services' own loggers (uvicorn and RQ configure theirs)."""

import logging


def configure(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
