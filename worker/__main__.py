"""`python -m worker`: an RQ worker on the Pulse queue (one forked work horse per job)."""

import redis
from rq import Queue, Worker

from shared import redis_names as names
from shared.settings import WorkerSettings
from worker.jobs import on_horse_killed, preload


def main() -> None:
    settings = WorkerSettings()
    preload()
    connection = redis.Redis.from_url(settings.redis_url)
    worker = Worker(
        [Queue(names.QUEUE, connection=connection)],
        connection=connection,
        work_horse_killed_handler=on_horse_killed,
    )
    worker.work(with_scheduler=False)


if __name__ == "__main__":
    main()
