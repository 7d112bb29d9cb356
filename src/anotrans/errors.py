"""Exceptions for user mistakes: the CLI prints their message instead of a traceback."""

from __future__ import annotations


class AnotransError(Exception):
    """Base class of every error caused by bad input, a bad option or a bad file."""


class ConfigError(AnotransError, ValueError):
    """An option or combination of options that cannot work (names the option and what works)."""


class DataError(AnotransError, ValueError):
    """A data file or folder that is missing, empty or malformed (names the path and the problem)."""


class CheckpointError(AnotransError, ValueError):
    """A run directory or checkpoint that cannot be loaded."""


class WriteError(AnotransError, OSError):
    """A run-directory file could not be written (disk full, read-only folder); the old file is intact."""
