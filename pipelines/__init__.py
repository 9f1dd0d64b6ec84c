"""chatfunnel: the CLI, the run lifecycle and everything around the sources."""

__version__ = "0.29.0"  # the one place; pyproject reads it, `chatfunnel --version` prints it
