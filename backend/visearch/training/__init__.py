"""Training of projection heads and adapters on frozen encoders (``visearch train-adapter``)."""
