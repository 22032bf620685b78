"""The error types the CLI turns into one line on stderr."""

from __future__ import annotations


class TrainprintError(ValueError):
    """Bad input or usage: the message names the file or value and what was expected.

    The CLI prints ``error: <message>`` on one line and exits with code 2; library callers get a
    ``ValueError`` subclass they can catch.
    """


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) or SIGTERM, raised in the main thread by the CLI's signal handlers, so that
    a stopped run unwinds through every ``with`` block: run.json says ``interrupted`` and finished
    steps stay saved. (A ``BaseException`` but not a ``KeyboardInterrupt``, which the command-line
    framework would catch first.) ``signal_name`` is ``SIGINT`` or ``SIGTERM``."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
