"""How every ``tobigs-*`` command line ends: one line on stderr and a conventional exit status, never a traceback.

* a bad or unknown option, or an option value that fails a check (:class:`UsageError`, argparse's own errors):
  ``prog: error: <what and why>`` and exit status 2 (argparse's convention, raised as ``SystemExit(2)``);
* input a command cannot use, found while running (:class:`InputError`: a model folder without weights, a layer
  that does not exist): ``prog: error: <message>`` and exit status 2, returned rather than raised;
* anything else that goes wrong while running: ``prog: error: <ExceptionType>: <message>`` and exit status 1;
* ``TOBIGS_DEBUG=1`` in the environment prints the full traceback before that line (the exit status stays).

argparse prints its multi-line usage and exits from inside ``parse_args``; the parsers are built in several modules
(some owned by other commands), so :func:`run_cli` swaps ``ArgumentParser.error`` for the duration of the call
rather than asking every module to subclass the parser.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

#: Set to 1 (or true/yes) to print the full traceback of a failing command before its one-line error.
DEBUG_ENV = "TOBIGS_DEBUG"

__all__ = ["DEBUG_ENV", "InputError", "UsageError", "argparse_errors_raise", "one_line", "run_cli"]


class UsageError(ValueError):
    """A bad or unknown command-line option, or an option value that fails a check: exit status 2."""


class InputError(ValueError):
    """Input the command cannot use, found while running (not an option error): exit status 2, returned."""


def one_line(message: object) -> str:
    """``message`` as a single line (inner line breaks become ' | ')."""
    text = str(message).strip()
    return re.sub(r"\s*\n\s*", " | ", text) or "(no message)"


def _raise_usage_error(self: argparse.ArgumentParser, message: str):
    raise UsageError(message)


@contextmanager
def argparse_errors_raise() -> Iterator[None]:
    """Inside the block, argparse's errors raise :class:`UsageError` instead of printing the usage and exiting."""
    original = argparse.ArgumentParser.error
    argparse.ArgumentParser.error = _raise_usage_error  # type: ignore[method-assign]
    try:
        yield
    finally:
        argparse.ArgumentParser.error = original  # type: ignore[method-assign]


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def run_cli(main: Callable[[list[str] | None], Any], prog: str, argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)`` as the command ``prog``: returns its int result (0 for any other result), 2 after an
    :class:`InputError`, 1 after a runtime failure, and raises ``SystemExit(2)`` after a usage error (each error one
    line on stderr)."""
    try:
        with argparse_errors_raise():
            result = main(None if argv is None else list(argv))
    except UsageError as exc:
        if _debug():
            traceback.print_exc()
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    except InputError as exc:
        if _debug():
            traceback.print_exc()
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence of a command line
        if _debug():
            traceback.print_exc()
        print(f"{prog}: error: {type(exc).__name__}: {one_line(exc)} (set {DEBUG_ENV}=1 for the traceback)",
              file=sys.stderr)
        return 1
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
