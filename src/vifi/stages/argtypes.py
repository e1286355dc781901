"""argparse value types, argument sections and recorded command lines shared by the stages' command lines.

A bad number on a command line should be a usage error naming the flag, not a traceback from deep inside a
stage, and every stage should word it the same way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from err
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {minimum}")
        return value

    return parse


def sections(argv: Sequence[str] | None, flag: str) -> list[list[str]]:
    """Each section's arguments: the shared ones (before the first `flag`), then its own, up to the next `flag`.

    One process can then do the work of several jobs (a model on several datasets, several models' FLOPs),
    each section parsed as if it were alone, and pay for importing torch once. `argv=None` reads the process's
    own arguments, as argparse does.
    """
    argv = sys.argv[1:] if argv is None else argv
    starts = [i for i, arg in enumerate(argv) if arg.split("=", 1)[0] == flag]
    if len(starts) < 2:
        return [list(argv)]
    shared = list(argv[: starts[0]])
    return [shared + list(argv[a:b]) for a, b in zip(starts, [*starts[1:], len(argv)], strict=True)]


def command_line(parser: argparse.ArgumentParser, args: Mapping[str, Any]) -> list[str]:
    """The arguments that make `parser` give back `args` (a recorded `vars(namespace)`), in the parser's order.

    Booleans of `BooleanOptionalAction` become `--x` / `--no-x`, lists one value per word; `None` (a flag left
    out) gives nothing.
    """
    argv: list[str] = []
    for action in parser._actions:
        if not action.option_strings or action.dest not in args or args[action.dest] is None:
            continue
        flag, value = action.option_strings[0], args[action.dest]
        if isinstance(action, argparse.BooleanOptionalAction):
            argv.append(flag if value else f"--no-{flag.removeprefix('--')}")
        elif isinstance(action, argparse._StoreTrueAction):
            argv += [flag] if value else []
        elif isinstance(action, argparse._AppendAction):
            argv += [part for item in value for part in (flag, *map(str, item))]
        elif isinstance(value, list):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv
