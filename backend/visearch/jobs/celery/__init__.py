"""The Celery side of jobs: the app with its queues (``app``) and the batch task (``tasks``)."""
