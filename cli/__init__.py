"""The ``asyncmend`` command line (typer)."""
