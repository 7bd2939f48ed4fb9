"""Retrieval evaluation (`visearch eval`) and adapter training."""
