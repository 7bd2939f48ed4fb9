"""Bulk indexing jobs: Celery on RabbitMQ with state in Redis, or an in-process runner with a
durable journal. Import from the submodules (``manager``, ``tasks``, ``client``); importing
this package loads nothing heavy."""
