"""RQ worker that runs jobs against the factory. Built under issue 3; nothing here yet."""
