"""The per-file semantic model every rule asks (``model.SemanticModel``), over
syntax helpers (``tree``, ``bindings``) and with domain questions beside it:
``sessions`` (is this an AsyncSession, from which factory, sync or async), ``fastapi``
(routes, dependencies, ``Depends``, ``BackgroundTasks``), ``coroutines``, ``flow``
(commit/rollback paths), ``locks``."""
