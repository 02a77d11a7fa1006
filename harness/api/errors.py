"""User-facing errors: one line that names the problem and the fix, never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class WsbenchError(Exception):
    """An error caused by input or environment; the CLI prints its message as one line."""


class DataMissingError(WsbenchError):
    """A data file or folder the run needs is not where the settings point."""


class CorruptDataError(WsbenchError):
    """A data file exists but is truncated, unreadable or fails its checksum."""


class UnknownNameError(WsbenchError, KeyError):
    """A name (plugin, dataset, split, metric, ...) that is not among the known ones."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


def positive_int(value: object, what: str, error: type[WsbenchError] = WsbenchError) -> int:
    """``value`` as an int >= 1 (bools refused), else a one-line ``error`` naming ``what``."""
    import operator

    try:
        v = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        v = None
    if v is None or isinstance(value, bool) or v < 1:
        raise error(f"{what} must be a positive integer, got {value!r}")
    return v


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest known name, or '' when none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown(kind: str, name: object, choices: Iterable[str]) -> UnknownNameError:
    """Build the standard 'unknown X' error listing the valid names."""
    choices = sorted(str(c) for c in choices)
    return UnknownNameError(f"unknown {kind} {name!r}{did_you_mean(str(name), choices)}; known: {', '.join(choices)}")


def os_error_line(e: OSError) -> str:
    """One line for an operating-system error: what failed, on which path, and what to check."""
    what = e.strerror or type(e).__name__
    path = f": {e.filename}" if e.filename else ""
    return f"{what}{path}; check that the path exists, is the right kind (file or folder) and that you may read/write it"
