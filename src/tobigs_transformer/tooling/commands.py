"""One command line = a :class:`Command`: the dataclasses ``HfArgumentParser`` fills, and the function run with them.

Every command of the package (``tobigs train clm``, ``tobigs convert``, ``tobigs viz attention``, ...) is parsed
here, so ``--help``, config files, defaults and errors work the same everywhere:

* ``--help`` lists every option with its help text and default (the dataclass fields' ``metadata["help"]``);
* ``--config_file run.yaml`` (or ``--config_file=run.yaml``) reads option values from a YAML/JSON mapping; a
  ``.yaml``/``.yml``/``.json`` file as the first argument is read the same way (``tobigs train clm run.yaml
  --max_steps 10``).  Several files are read in the order given, a later file winning over an earlier one, and flags
  on the command line win over every file (``HfArgumentParser``'s ``args_file_flag`` convention).  A key that is no
  option of the command (``max-steps`` and an option's aliases spell it too) is an error naming the file and keys;
* an unknown option, a value of the wrong type or a failed ``__post_init__`` check is a
  :class:`~.cli.UsageError` naming the option (one line, exit status 2 under :func:`~.cli.run_cli`);
* an option renamed in this release keeps working under its old spelling as a field alias
  (``metadata={"aliases": ["--out"]}``) and says so in ``--help``; a removed flag says what replaced it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from transformers import HfArgumentParser

from .cli import UsageError, argparse_errors_raise, run_cli

__all__ = ["Command", "build_parser", "execute", "parse", "read_config_file", "run_command", "run_group"]

CONFIG_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass(frozen=True)
class Command:
    """A command line: ``run(*parsed)`` with one instance of each of ``arguments`` (dataclasses)."""

    arguments: tuple[type, ...]
    run: Callable[..., Any]
    #: Shown by ``--help`` above the options (usually the module docstring).
    description: str = ""
    #: Leading words before the first option are values of this option (``tobigs viz curves RUN RUN``).
    positional: str | None = None
    #: Cross-dataclass defaults, applied to the parsed values (by field name) before any dataclass is built.
    resolve: Callable[[dict[str, Any]], None] | None = None
    #: Flags that no longer exist → what to write instead (a usage error says so).
    removed: Mapping[str, str] = field(default_factory=dict)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions keep their line breaks (they are docstrings); options show their defaults."""


def build_parser(command: Command, prog: str | None = None) -> HfArgumentParser:
    """The ``HfArgumentParser`` of ``command`` (also what ``--help`` prints)."""
    epilog = None if command.positional is not None else (
        "A .yaml/.yml/.json file given as the first argument is read as a config file (options after it win).")
    parser = HfArgumentParser(command.arguments, prog=prog, description=command.description or None,
                              formatter_class=_HelpFormatter, allow_abbrev=False, epilog=epilog)
    parser.add_argument("--config_file", metavar="PATH", default=None, action="append",
                        help="YAML or JSON mapping of option names to values; may be given several times (a later "
                             "file wins over an earlier one); options given on the command line win over all")
    return parser


def read_config_file(path: str) -> dict[str, Any]:
    """The mapping of option values in a ``.yaml``/``.yml``/``.json`` file (errors name the file, and the line)."""
    if not os.path.isfile(path):
        raise UsageError(f"config file {path!r}: no such file")
    try:
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f) if path.endswith((".yaml", ".yml")) else json.load(f)
    except json.JSONDecodeError as exc:
        raise UsageError(f"config file {path}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"config file {path!r}: malformed YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(values, dict):
        raise UsageError(f"config file {path!r} must hold a mapping of argument names to values")
    return values


def _as_flags(key: str, value: Any) -> list[str]:
    """One config-file entry as command-line words (``--key=value`` keeps values that start with '-' values)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [f"--{key}", *map(str, value)]
    if isinstance(value, dict):
        return [f"--{key}={json.dumps(value)}"]
    return [f"--{key}={value}"]


def _config_paths(argv: list[str], first_file: bool) -> tuple[list[str], list[str]]:
    """The config files of ``argv`` in the order given (a leading ``.yaml``/``.json`` word, every ``--config_file
    PATH`` and ``--config_file=PATH``) and the other words."""
    paths: list[str] = []
    if first_file and argv and argv[0].endswith(CONFIG_SUFFIXES) and not argv[0].startswith("-"):
        paths, argv = [argv[0]], argv[1:]
    rest, i = [], 0
    while i < len(argv):
        word = argv[i]
        if word == "--config_file":
            if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                raise UsageError("--config_file needs a path")
            paths.append(argv[i + 1])
            i += 2
            continue
        if word.startswith("--config_file="):
            if not word.split("=", 1)[1]:
                raise UsageError("--config_file needs a path")
            paths.append(word.split("=", 1)[1])
        else:
            rest.append(word)
        i += 1
    return paths, rest


def _option_names(command: Command) -> dict[str, str]:
    """Every spelling a config-file key may use → the field it sets: ``max_steps``, ``max-steps``, ``--max_steps``
    and an option's aliases (``--out``)."""
    names: dict[str, str] = {}
    for dtype in command.arguments:
        for f in dataclasses.fields(dtype):
            if not f.init:
                continue
            for spelling in (f.name, f.name.replace("_", "-"), *f.metadata.get("aliases", ())):
                names[spelling.lstrip("-")] = f.name
    return names


def _expand_config_file(argv: list[str], command: Command, first_file: bool) -> list[str]:
    paths, rest = _config_paths(argv, first_file)
    if not paths:
        return argv
    spellings, merged = _option_names(command), {}
    for path in paths:
        values = read_config_file(path)
        unknown = sorted(str(k) for k in values if str(k).lstrip("-") not in spellings)
        flags_of = {k: "--" + k.lstrip("-") for k in unknown}
        removed = [f"{k} (use {command.removed[flags_of[k]]})" for k in unknown if flags_of[k] in command.removed]
        if removed:
            raise UsageError(f"config file {path!r}: option(s) that no longer exist: {', '.join(removed)}")
        if unknown:
            raise UsageError(f"config file {path!r}: key(s) {unknown} are not options of this command and would "
                             "not be used; see --help for the options")
        for key, value in values.items():
            merged[spellings[str(key).lstrip("-")]] = value  # a later file wins over an earlier one
    given = {word.split("=", 1)[0].lstrip("-") for word in rest if word.startswith("-")}
    given = {spellings.get(word, word) for word in given}
    flags = [w for key, value in merged.items() if key not in given for w in _as_flags(key, value)]
    return flags + rest


def _with_positional(argv: list[str], option: str | None) -> list[str]:
    """``WORD WORD --x 1`` → ``--option WORD WORD --x 1`` (the words before the first option)."""
    if option is None or not argv or argv[0].startswith("-"):
        return argv
    n = next((i for i, word in enumerate(argv) if word.startswith("-")), len(argv))
    return [f"--{option}", *argv[:n], *argv[n:]]


def _build(dtype: type, values: dict[str, Any]):
    """One dataclass from the parsed values; a failed ``__post_init__`` check is a usage error."""
    try:
        return dtype(**{f.name: values[f.name] for f in dataclasses.fields(dtype) if f.init and f.name in values})
    except UsageError:
        raise
    except (TypeError, ValueError) as exc:
        raise UsageError(" ".join(str(exc).split())) from exc


def parse(command: Command, argv: Sequence[str] | None = None, prog: str | None = None) -> tuple:
    """The dataclass instances ``command.arguments`` from ``argv`` (default ``sys.argv[1:]``)."""
    words = list(sys.argv[1:] if argv is None else argv)
    words = _with_positional(words, command.positional)
    words = _expand_config_file(words, command, first_file=command.positional is None)
    parser = build_parser(command, prog)
    with argparse_errors_raise():
        namespace, remaining = parser.parse_known_args(words)
    for word in remaining:
        if word.split("=", 1)[0] in command.removed:
            flag = word.split("=", 1)[0]
            raise UsageError(f"{flag} no longer exists: use {command.removed[flag]}")
    if remaining:
        raise UsageError(f"unrecognized arguments: {' '.join(remaining)}")
    values = vars(namespace)
    values.pop("config_file", None)
    if command.resolve is not None:
        command.resolve(values)
    return tuple(_build(dtype, values) for dtype in command.arguments)


def execute(command: Command, argv: Sequence[str] | None = None, prog: str | None = None) -> Any:
    """Parse ``argv`` and run the command (errors propagate: for Python callers and tests)."""
    return command.run(*parse(command, argv, prog))


def run_command(command: Command, prog: str, argv: Sequence[str] | None = None) -> int:
    """Run ``command`` as the command line ``prog``: exit status 0, 1 or 2 with one line on stderr."""
    return run_cli(lambda words: execute(command, words, prog), prog, argv)


def run_group(commands: Mapping[str, Command], prog: str, argv: Sequence[str] | None = None) -> int:
    """``prog NAME [options]``: run the command called NAME (``prog --help`` lists the names); every error line
    starts ``prog: error:``."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in ("-h", "--help"):
        print(f"usage: {prog} {{{','.join(commands)}}} [options]\n\n`{prog} NAME --help` lists the options of one.")
        return 0
    if not words or words[0] not in commands:
        what = f"unknown command {words[0]!r}" if words else "missing command"
        return run_cli(_fail(f"{what}; choose from {', '.join(commands)}"), prog, [])
    return run_command(commands[words[0]], prog, words[1:])  # error lines name `prog`, as its other errors do


def _fail(message: str) -> Callable[[Any], Any]:
    def fail(_argv):
        raise UsageError(message)

    return fail
