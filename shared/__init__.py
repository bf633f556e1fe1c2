"""Code shared by the gateway, the worker and the factory: schemas, settings, defaults."""
