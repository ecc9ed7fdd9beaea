"""Pass 1: fact collectors over stdlib ``ast`` trees, registered by decorator beside
their trigger tokens (``base.collector``); the engine merges their records into the
repo index."""
