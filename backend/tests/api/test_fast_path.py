"""Requests that need no model are never queued behind inference: with the model busy and
every inference thread waiting for it, a cached search and a search by stored id still answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np

from visearch.api.app import create_app
from visearch.models.clip import ClipEmbedder
from visearch.runtime import Runtime
from visearch.services.indexing import IndexItem


def test_cached_and_by_id_searches_answer_while_the_model_is_busy(
    runtime: Runtime, clothing_images: list[Path]
) -> None:
    [indexed] = runtime.indexer.index_items([IndexItem(data=clothing_images[0].read_bytes())])
    model = runtime.embedder
    assert isinstance(model, ClipEmbedder)
    busy = runtime.executor._max_workers + 8  # more waiting searches than inference threads

    async def scenario() -> None:
        app = create_app(runtime=runtime)
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=transport, base_url="http://localhost"
        ) as client:
            warm = await client.post("/api/v1/search", json={"text": "a red dress"})
            assert warm.status_code == 200 and not warm.json()["cached"]
            model._forward_lock.acquire()  # the model is busy (a long forward)
            try:
                waiting = [asyncio.create_task(client.post(
                    "/api/v1/search", json={"text": f"unique query {i}"})) for i in range(busy)]
                await asyncio.sleep(0.5)
                early = [t.result().status_code for t in waiting if t.done()]
                assert early == []  # all stuck behind the model
                cached = await asyncio.wait_for(
                    client.post("/api/v1/search", json={"text": "a red dress"}), timeout=30)
                assert cached.status_code == 200 and cached.json()["cached"]
                by_id = await asyncio.wait_for(client.post(
                    "/api/v1/search", json={"image_id": indexed.image_id}), timeout=30)
                assert by_id.status_code == 200
                assert not any(t.done() for t in waiting)  # those really were still waiting
            finally:
                model._forward_lock.release()
            answers = await asyncio.gather(*waiting)
            assert all(a.status_code == 200 for a in answers)

    asyncio.run(scenario())
    # The waiting queries were gathered into few model calls once the model was free.
    calls, inputs = runtime.query_embedder.texts.calls, runtime.query_embedder.texts.inputs
    assert inputs >= busy and calls < busy
    assert np.isfinite(calls)
