"""The one error type that the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations


class TrainprintError(ValueError):
    """Bad input or usage: the message names the file or value and what was expected.

    The CLI prints ``error: <message>`` on one line and exits with code 2; library callers get a
    ``ValueError`` subclass they can catch.
    """
