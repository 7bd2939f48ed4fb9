"""Bulk indexing jobs: Celery on RabbitMQ with state in Redis, or an in-process runner with a
durable SQLite journal. Import from the submodules; importing this package loads nothing.

* ``spec``: what a job asks for (``JobSpec``) and its expansion into items (``ItemSpec``).
* ``model``: states, counts and views of a job (``JobView``) and the ledger protocol.
* ``ledger_sqlite``, ``ledger_redis``: the two ledgers (where job state lives).
* ``batch``: one batch of a job (skip what is recorded, index the rest, record outcomes).
* ``policy``: retry with backoff, give up, or poison: one policy for both runners.
* ``manager``: the ``JobManager`` interface and ``build_job_manager``.
* ``local``: the in-process runner; ``celery/``: its app, the manager and the worker's task.
* ``metrics``: the jobs' Prometheus collector.
"""
