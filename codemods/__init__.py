"""asyncmend's rules and what they share: ``rules/`` (one module per rule), ``semantic/``
(the per-file model every rule asks), ``facts/`` (pass-1 collectors), ``edits/`` (fix
building), the ``Rule`` base class (``base``) and the registry. At run time nothing
here imports ``asyncmend.engine``."""
