"""One module per rule: ``am<code>_<name>.py`` defining one ``Rule`` subclass."""
