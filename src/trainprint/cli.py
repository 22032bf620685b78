"""Entry point of the ``trainprint`` console script."""

from __future__ import annotations

import sys

from trainprint.cli_app import app
from trainprint.errors import TrainprintError

# Each module registers its commands on ``app`` when imported.
from trainprint import cli_data  # noqa: E402,F401  inspect
from trainprint import cli_fit  # noqa: E402,F401  fit
from trainprint import cli_eval  # noqa: E402,F401  evaluate, submit, validate, score
from trainprint import cli_report  # noqa: E402,F401  report
from trainprint import cli_demo  # noqa: E402,F401  make-demo, demo


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
