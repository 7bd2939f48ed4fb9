"""Open the configured vector store for one embedding model."""

from __future__ import annotations

from visearch.config import Settings
from visearch.store.base import VectorStore
from visearch.store.query import parse_index_spec


def open_store(settings: Settings, model_id: str, dim: int) -> VectorStore:
    """The store named by ``settings.store``: embedded edge shard or Qdrant server/local mode.

    Raises ``CollectionMismatchError`` when the collection belongs to another model and
    ``StoreUnavailableError`` when it cannot be opened (locked, unreachable).
    """
    declared = parse_index_spec(settings.payload_indexes)
    if settings.store == "edge":
        from visearch.store.edge import EdgeStore

        return EdgeStore(
            settings.data_dir,
            model_id,
            dim,
            hnsw_m=settings.hnsw_m,
            hnsw_ef_construct=settings.hnsw_ef_construct,
            min_free_bytes=settings.min_free_disk_mb * 2**20,
            payload_indexes=declared,
            quantization=settings.store_quantization,
            vectors_on_disk=settings.store_vectors_on_disk,
            hnsw_ef=settings.hnsw_ef,
            oversampling=settings.store_oversampling,
            build_threshold=settings.index_build_threshold,
        )
    from visearch.store.qdrant import QdrantStore

    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    return QdrantStore(
        model_id,
        dim,
        url=settings.qdrant_url,
        path=None if settings.qdrant_url else settings.qdrant_path,
        api_key=api_key,
        timeout_s=settings.qdrant_timeout_s,
        shard_number=settings.shard_number,
        replication_factor=settings.replication_factor,
        write_consistency_factor=settings.write_consistency_factor,
        hnsw_m=settings.hnsw_m,
        hnsw_ef_construct=settings.hnsw_ef_construct,
        payload_indexes=declared,
        read_consistency=settings.read_consistency,
        write_ordering=settings.write_ordering,
    )
