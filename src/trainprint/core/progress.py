"""Progress bars: one rule for every bar of the tool.

A bar is drawn on stderr, and only when it was asked for and stderr is a terminal: a log file or a
pipe gets no bar lines, so an error stays the only line there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress


def new_progress(enabled: bool, *columns: Any, **kwargs: Any) -> "Progress | None":
    """A rich ``Progress`` with ``columns`` on stderr, or ``None`` when disabled or not on a terminal."""
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    if not console.is_terminal:
        return None
    return Progress(*columns, console=console, **kwargs)
