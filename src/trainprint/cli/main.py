"""Entry point of the ``trainprint`` console script: every failure is one line on stderr.

- bad input or usage (``TrainprintError``, a bad option value, a file that cannot be read or
  written): ``error: <what and where>``, exit 2, no traceback;
- Ctrl-C or SIGTERM: the run unwinds (its run.json says ``interrupted``), then one line says
  where the finished steps are and how to resume; exit 130 (SIGINT) or 143 (SIGTERM);
- a long command whose stderr is not a terminal logs one line per stage (start, end, seconds).
"""

from __future__ import annotations

import logging
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Typer (>= 0.26) carries its own copy of click; every usage error it raises (a bad option value, a missing
# argument, an unknown command) is a ``typer.TyperException``, its public base class.
from typer import BadParameter, TyperException

from trainprint.cli.app import app
from trainprint.core import runs
from trainprint.core.errors import Interrupted, TrainprintError
from trainprint.data.reading import Reading, use_reading

# Each module registers its commands on ``app`` when imported.
from trainprint.cli import data as _data  # noqa: E402,F401  inspect
from trainprint.cli import fit as _fit  # noqa: E402,F401  fit
from trainprint.cli import evaluate as _evaluate  # noqa: E402,F401  evaluate, submit, validate, score
from trainprint.cli import report as _report  # noqa: E402,F401  report
from trainprint.cli import demo as _demo  # noqa: E402,F401  make-demo, demo
from trainprint.cli import audit as _audit  # noqa: E402,F401  audit

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; always ends in ``SystemExit`` with the command's exit code."""
    # the command's --axis / --slice-step / --window set the current reading; it ends with the command
    with _signals_raise_interrupted(), _stage_lines_when_not_a_terminal(), use_reading(Reading()):
        code = _run(argv)
    sys.exit(code)


def _run(argv: list[str] | None) -> int:
    runs.interrupted_runs.clear()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        # ``trainprint`` alone: the help, as --help prints it, exit 0
        code = app(args=args or ["--help"], prog_name="trainprint", standalone_mode=False)
    except TrainprintError as e:
        return _error(str(e))
    except BadParameter as e:
        return _error(_bad_value(e.format_message()))
    except TyperException as e:
        return _error(e.format_message())
    except Interrupted as e:
        return _interrupted(e.signal_name)
    except KeyboardInterrupt:
        return _interrupted("SIGINT")
    except OSError as e:  # a file that cannot be read or written, a full disk
        where = f"{e.filename}: " if e.filename else ""
        return _error(f"{where}{e.strerror or e}")
    return int(code or 0)


#: how typer (through pydantic) words a value outside an option's choices
_NOT_ONE_OF = re.compile(r"Invalid value for '(?P<opt>[^']+)': (?:Value error, )?(?P<value>'.*') is not one of "
                         r"(?P<choices>.*?)\.?$", re.S)


def _bad_value(message: str) -> str:
    """``--protocol 'loose': expected one of strict, paper`` for a value outside an option's
    choices (the option, the value, the choices); other bad values as typer words them."""
    m = _NOT_ONE_OF.match(" ".join(message.split()))
    if m is None:
        return message.replace("Value error, ", "")
    choices = ", ".join(c.strip().strip("'") for c in m["choices"].split(","))
    return f"{m['opt']} {m['value']}: expected one of {choices}"


def _error(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _interrupted(signal_name: str) -> int:
    where = runs.interrupted_runs[-1] if runs.interrupted_runs else None
    saved = f"finished steps are saved in {where} (run.json: interrupted)" if where else "nothing was written"
    print(f"interrupted ({signal_name}): {saved}; run the same command again to resume", file=sys.stderr)
    return EXIT_CODES.get(signal_name, 130)


@contextmanager
def _signals_raise_interrupted() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Interrupted`` in the main thread while the CLI runs."""
    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    try:
        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (an embedding program): keep its handlers
        yield
        return
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def _stage_lines_when_not_a_terminal() -> Iterator[None]:
    """One ``trainprint: <command>: <stage> started|done in N s`` line per stage on stderr when it
    is a log or a pipe (on a terminal the progress bars show where a run is)."""
    if sys.stderr.isatty():
        yield
        return
    log = runs.stage_log
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("trainprint: %(message)s"))
    old_level, old_propagate = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
        log.propagate = old_propagate


if __name__ == "__main__":  # pragma: no cover
    main()
