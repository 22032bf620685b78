"""The command line: thin commands that parse their arguments and call one library function.

``main`` (the console script) turns ``TrainprintError`` into one ``error: ...`` line and exit 2.
"""

from trainprint.cli.main import main

__all__ = ["main"]
