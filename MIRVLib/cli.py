"""The `mirv` command: one sub-command per module in `MIRVLib.commands`.

Each command module defines ``register(subparsers)``; it adds its parser and sets ``func`` (a callable
taking the parsed namespace and returning the process exit code). Discovery keeps this file free of
knowledge about individual commands, so adding a command never touches the dispatcher.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from MIRVLib import __version__, commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mirv",
        description="Measured Intrapatient Radiomic Variability: how different are one patient's metastases?",
    )
    parser.add_argument("--version", action="version", version=f"mirv {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{module_info.name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
