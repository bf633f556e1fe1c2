"""`python -m worker`: an RQ worker on the Pulse queue (one forked work horse per job)."""

from shared import logs
from shared.settings import WorkerSettings, load
from worker.jobs import preload
from worker.process import run


def main() -> None:
    logs.configure()
    settings = load(WorkerSettings)
    preload()
    run(settings)


if __name__ == "__main__":
    main()
