"""RQ worker: runs each job against the factory and publishes its events."""
