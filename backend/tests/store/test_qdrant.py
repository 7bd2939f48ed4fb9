"""QdrantStore-only behaviour: connection failures, foreign collections, local-mode locking."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from tests.store.conftest import DIM, MODEL, DataSet
from visearch.store.base import CollectionMismatchError, StoreError, StoreUnavailableError
from visearch.store.qdrant import QdrantStore


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def answering(request: pytest.FixtureRequest) -> Iterator[str]:
    """A local HTTP server answering every request with the given status (a broken Qdrant)."""
    status = int(request.param)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = b'{"status": {"error": "nope"}}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_unreachable_server() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(StoreUnavailableError, match="unreachable"):
        QdrantStore(MODEL, DIM, url=url, timeout_s=2)


@pytest.mark.parametrize(("answering", "kind", "text"), [
    (401, StoreUnavailableError, "credentials"),
    (503, StoreUnavailableError, "503"),
    (400, StoreError, "400"),
], indirect=["answering"])
def test_server_errors(answering: str, kind: type[Exception], text: str) -> None:
    with pytest.raises(kind, match=text):
        QdrantStore(MODEL, DIM, url=answering, timeout_s=2)


def test_local_folder_in_use(store_dir: Path) -> None:
    with QdrantStore(MODEL, DIM, path=store_dir) as store:
        with pytest.raises(StoreUnavailableError, match="already accessed"):
            QdrantStore(MODEL, DIM, path=store_dir)
        assert store.ping()


def test_foreign_collections(store_dir: Path, data: DataSet) -> None:
    client = QdrantClient(path=str(store_dir))
    for name, size in [("sixteen", 16), ("plain", DIM)]:
        client.create_collection(name, vectors_config=models.VectorParams(
            size=size, distance=models.Distance.COSINE))
    client.create_collection("named", vectors_config={"img": models.VectorParams(
        size=DIM, distance=models.Distance.COSINE)})
    client.close()

    with pytest.raises(CollectionMismatchError, match="16-dim"):
        QdrantStore(MODEL, DIM, path=store_dir, name="sixteen")
    with pytest.raises(CollectionMismatchError, match="named vectors"):
        QdrantStore(MODEL, DIM, path=store_dir, name="named")
    # No model record (made by hand): the dimension fits, so it is used.
    with QdrantStore(MODEL, DIM, path=store_dir, name="plain") as store:
        store.upsert(data.points[:3])
        assert store.count() == 3


def test_records_model_in_metadata(store_dir: Path) -> None:
    QdrantStore(MODEL, DIM, path=store_dir, shard_number=2, hnsw_m=8).close()
    client = QdrantClient(path=str(store_dir))
    info = client.get_collection(f"test-model-a-{DIM}")
    client.close()
    assert info.config.metadata == {"model_id": MODEL, "dim": DIM, "distance": "cosine"}


def test_constructor_needs_one_location() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        QdrantStore(MODEL, DIM)
    with pytest.raises(ValueError, match="exactly one"):
        QdrantStore(MODEL, DIM, url="http://x", path="/tmp/x")
