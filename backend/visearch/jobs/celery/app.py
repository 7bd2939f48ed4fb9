"""The Celery application: queues, reliability settings and the batch task.

Reliability, in one place:

* ``acks_late`` + ``task_reject_on_worker_lost`` + prefetch 1: a batch is acknowledged only
  after its outcomes were recorded; a worker killed mid-batch leaves the message unacked and
  RabbitMQ hands it to the next worker. Upserts are idempotent (content-hash ids) and the
  job counts record each item once, so the second delivery duplicates nothing.
* Publisher confirms and persistent messages on durable queues: a job answered with 202 is
  on RabbitMQ's disk.
* Bounded retries with exponential backoff for a batch that raises (store or model
  trouble); when they run out, every open item is recorded as failed with the reason
  (``jobs.policy``, the same rules as the in-process runner).
* Poison messages end in the dead-letter queue ``<job_queue>.dead`` (through the main
  queue's ``x-dead-letter-exchange``): undecodable or malformed messages, batches that gave
  up, and batches that were delivered ``job_max_deliveries`` times without finishing (each
  delivery killed its worker).
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import Celery
from celery.worker.consumer import Consumer
from kombu import Connection, Exchange, Queue
from kombu.message import Message

from visearch.config import Settings

TASK_NAME = "visearch.index_batch"
EXCHANGE_NAME = "visearch"
DEAD_EXCHANGE_NAME = "visearch.dlx"
CONNECT_TIMEOUT_S = 3.0

log = structlog.get_logger(__name__)

_exchange = Exchange(EXCHANGE_NAME, type="direct", durable=True)
_dead_exchange = Exchange(DEAD_EXCHANGE_NAME, type="direct", durable=True)


def dead_queue_name(queue: str) -> str:
    return f"{queue}.dead"


def index_queue(name: str) -> Queue:
    """The work queue; rejected messages go to the dead-letter exchange under its name."""
    return Queue(
        name,
        exchange=_exchange,
        routing_key=name,
        durable=True,
        queue_arguments={
            "x-dead-letter-exchange": DEAD_EXCHANGE_NAME,
            "x-dead-letter-routing-key": name,
        },
    )


def dead_letter_queue(name: str) -> Queue:
    return Queue(dead_queue_name(name), exchange=_dead_exchange, routing_key=name, durable=True)


class DeadLetteringConsumer(Consumer):
    """Celery's consumer, except that an undecodable message is dead-lettered, not dropped."""

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        log.error("undecodable_message", error=str(exc), content_type=message.content_type)
        message.reject(requeue=False)


def make_celery(settings: Settings) -> Celery:
    """A Celery app for ``settings.broker_url`` (no result backend: state lives in Redis)."""
    if not settings.broker_url:
        raise ValueError("VISEARCH_BROKER_URL is not set")
    app = Celery("visearch", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=False,  # unexpected failures are dead-lettered
        worker_prefetch_multiplier=1,
        worker_consumer=f"{__name__}:DeadLetteringConsumer",
        task_queues=[index_queue(settings.job_queue)],
        task_default_queue=settings.job_queue,
        task_default_exchange=EXCHANGE_NAME,
        task_default_routing_key=settings.job_queue,
        task_create_missing_queues=False,
        task_default_delivery_mode="persistent",
        broker_transport_options={"confirm_publish": True},
        broker_connection_timeout=CONNECT_TIMEOUT_S,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_publish_retry=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_enable_remote_control=False,
        # The solo pool cannot answer heartbeats while a batch runs; a long batch (slow URLs)
        # would then lose its connection and be redelivered. A dead worker's socket closes
        # anyway, which is what returns its unacked batch to the queue.
        broker_heartbeat=0,
    )
    return app


def connect(app: Celery) -> Connection:
    """An open broker connection, or kombu's ``OperationalError`` at once if none is up."""
    conn = app.connection_for_write()
    try:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                               timeout=CONNECT_TIMEOUT_S)
    except Exception:
        conn.release()
        raise
    return conn


def declare_queues(conn: Connection, queue: str) -> None:
    """Declare the exchanges, the work queue and its dead-letter queue (idempotent)."""
    channel = conn.default_channel
    for q in (dead_letter_queue(queue), index_queue(queue)):
        q.bind(channel).declare()


def queue_depths(app: Celery, queue: str) -> tuple[int, int]:
    """Messages ready in the work queue and in its dead-letter queue."""
    conn = connect(app)
    try:
        channel = conn.channel()
        try:
            out: list[int] = []
            for name in (queue, dead_queue_name(queue)):
                ok: Any = channel.queue_declare(queue=name, passive=True)
                out.append(int(ok.message_count))
            return out[0], out[1]
        finally:
            channel.close()
    finally:
        conn.release()
