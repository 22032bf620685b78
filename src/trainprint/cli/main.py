"""Entry point of the ``trainprint`` console script."""

from __future__ import annotations

import sys

from trainprint.cli.app import app
from trainprint.core.errors import TrainprintError

# Each module registers its commands on ``app`` when imported.
from trainprint.cli import data as _data  # noqa: E402,F401  inspect
from trainprint.cli import fit as _fit  # noqa: E402,F401  fit
from trainprint.cli import evaluate as _evaluate  # noqa: E402,F401  evaluate, submit, validate, score
from trainprint.cli import report as _report  # noqa: E402,F401  report
from trainprint.cli import demo as _demo  # noqa: E402,F401  make-demo, demo


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; known errors become ``error: ...`` on stderr and exit code 2."""
    try:
        app(args=argv, prog_name="trainprint")
    except TrainprintError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: finished steps are saved; run the same command again to resume",
              file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
