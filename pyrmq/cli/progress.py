"""Progress bars for long offline work (``pyrmq store verify / dump / info / rebuild``).

tqdm draws on stderr, and only when both stdout and stderr are terminals and the output is not
``--json``: piped or machine-read output never carries bar characters.
"""

from __future__ import annotations

import shutil
import sys
from types import TracebackType

from tqdm import tqdm


def wanted(json_output: bool) -> bool:
    """Whether a bar should be drawn for this command."""
    return not json_output and sys.stdout.isatty() and sys.stderr.isatty()


class ByteProgress:
    """A bar over ``total`` bytes (of commitlog scanned); ``update_to(done)`` moves it.

        with ByteProgress(total, "verifying commitlog", wanted(args.json)) as bar:
            for phys, raw in scan(...):
                bar.update_to(phys - start)
    """

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        # a terminal that reports no size (a bare pty) would make tqdm draw nothing: 80x24
        size = shutil.get_terminal_size((80, 24))
        self._bar = tqdm(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
                         file=sys.stderr, disable=not enabled or total <= 0, mininterval=0.2,
                         leave=True, ncols=size.columns or 80, nrows=size.lines or 24)
        self._done = 0

    def update_to(self, done: int) -> None:
        """Set the bytes done so far (clamped to the total; never moves back)."""
        done = min(done, self._bar.total or 0)
        if done > self._done:
            self._bar.update(done - self._done)
            self._done = done

    def refresh(self) -> None:
        """Redraw (the elapsed time moves while nothing else does)."""
        self._bar.refresh()

    def finish(self) -> None:
        """Fill the bar (the scan reached the end)."""
        self.update_to(self._bar.total or 0)

    def __enter__(self) -> ByteProgress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # a scan that stopped early (dump --limit, an error) wipes its bar instead of leaving
        # a misleading partial one above the output
        self._bar.leave = self._done >= (self._bar.total or 0)
        self._bar.close()
