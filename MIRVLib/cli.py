"""The `mirv` command: one sub-command per module in `MIRVLib.commands`.

Each command module defines ``register(subparsers)``; it adds its parser and sets ``func`` (a callable
taking the parsed namespace and returning the process exit code). Discovery keeps this file free of
knowledge about individual commands, so adding a command never touches the dispatcher. A module is named
after its command, so ``mirv extract ...`` imports only ``commands.extract``: start-up stays short (SciPy,
Matplotlib and friends load only for the commands that need them).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from MIRVLib import __version__, commands
from MIRVLib.cli_options import add_global_options, finish_parser, sub_parsers

# One BLAS thread unless the user says otherwise: the engine's linear algebra is on tiny matrices (GLCM
# eigenvalues, shape moments), where OpenBLAS' thread start-up costs more than the work (measured 40x slower
# for a 13 x 177 x 177 eigvals on a busy 2-core machine), and lesions already run in parallel processes.
# Set here, before any command imports NumPy.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser; with ``only`` (a command name) just that command is imported and registered."""
    parser = argparse.ArgumentParser(
        prog="mirv",
        description="Measured Intrapatient Radiomic Variability: how different are one patient's metastases?",
    )
    add_global_options(parser, __version__)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", help="`mirv COMMAND --help` tells more")
    names = sorted(module_info.name for module_info in pkgutil.iter_modules(commands.__path__))
    for name in [only] if only in names else names:
        importlib.import_module(f"{commands.__name__}.{name}").register(subparsers)
    for command in list(sub_parsers(parser)):  # one vocabulary: global flags, help groups (MIRVLib.cli_options)
        finish_parser(command, __version__)
    return parser


def _requested_command(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line, if any (first argument that is not an option)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=_requested_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
