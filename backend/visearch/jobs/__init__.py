"""Bulk indexing jobs: Celery on RabbitMQ with state in Redis, or an in-process runner with a
durable SQLite ledger. Import from the submodules; importing this package loads nothing heavy."""
