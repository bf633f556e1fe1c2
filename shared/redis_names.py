"""Every Redis key and channel name the services share."""

from shared import defaults as d

QUEUE = d.QUEUE_NAME


def events_channel(job_id: str) -> str:
    """Pub/sub channel carrying a job's events live."""
    return f"pulse:job:{job_id}:events"


def events_log(job_id: str) -> str:
    """Redis Stream holding every event of a job, for replay."""
    return f"pulse:job:{job_id}:log"


def events_seq(job_id: str) -> str:
    """Counter numbering a job's events (it survives a retried attempt)."""
    return f"pulse:job:{job_id}:seq"


def job_meta(job_id: str) -> str:
    """Hash with the job's current stage and progress, for status polling."""
    return f"pulse:job:{job_id}:meta"


def submissions(client: str) -> str:
    """Per-client submission counter for rate limiting."""
    return f"pulse:rate:{client}"


def content(key: str) -> str:
    """The job id already running for a content key (skips duplicate work in flight)."""
    return f"pulse:content:{key}"


# Held while a gateway checks the queue's depth and enqueues (so the limit holds).
ADMISSION_LOCK = "pulse:lock:admission"

# Job ids whose result the store could not take yet; workers write them when it answers.
PENDING_STORE_WRITES = "pulse:store:pending"


def pending_store_write(job_id: str) -> str:
    """Hash with a job's result (and MP3) waiting for the store."""
    return f"pulse:job:{job_id}:unstored"


def metric(name: str) -> str:
    """Hash of a metric's totals kept by the workers, read by every gateway's /metrics."""
    return f"pulse:metrics:{name}"


# A channel nobody publishes on: it keeps the gateway's shared subscription connection in
# subscribed mode, and its confirmation after a reconnect is harmless.
HUB_IDLE_CHANNEL = "pulse:hub:idle"

# A random value set once (no TTL): when it changes or vanishes, Redis lost its data (it
# restarted without persistence), and with it every job's event log.
EPOCH = "pulse:epoch"
