"""asyncmend's rules: one module per rule (``am<code>_<name>.py``), the ``Rule`` base
class (``base``), shared matchers (``matchers``, ``analysis``) and the registry."""
