"""Query caches: text embeddings and search results, invalidated by a collection version."""

from visearch.cache.base import NullCache, SearchCache
from visearch.cache.two_tier import TwoTierCache, build_cache

__all__ = ["NullCache", "SearchCache", "TwoTierCache", "build_cache"]
