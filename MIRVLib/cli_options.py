"""One option vocabulary for `mirv` and the Slicer scripts: renamed options, global flags, --help groups.

Every command uses a name for one thing (docs/cli.md): ``--preset`` the PyRadiomics parameter set,
``--reduction`` the feature reduction, ``--model`` a fitted model, ``--in`` an input folder, ``--out`` where
results go, ``--group`` a grouping column. Spellings that meant something else keep working for one release:
:func:`add_renamed` stores their value under the new name and prints one deprecation line on stderr, so every
command deprecates the same way. :func:`finish_parser` gives a command's parser the global flags and sorts its
options into the --help groups of :data:`HELP_GROUPS`; one table keeps an option in the same group everywhere.
Imports nothing heavy: `mirv --help` builds every parser.
"""

from __future__ import annotations

import argparse
import copy
import shlex
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from MIRVLib.options import PRESETS as REDUCTIONS

# --help group of each option, by its dest (groups in display order); unlisted options stay in the command's own group.
HELP_GROUPS: dict[str, tuple[str, ...]] = {
    "inputs": ("image", "lesions", "follow_up_image", "follow_up_lesions", "patient_id", "names", "sites", "features",
               "volumes", "restrict_to", "manifest", "cases", "dicom_manifest", "table", "id", "derive", "type", "folder"),
    "outputs": ("out", "figures", "colour_scale", "dicom_out", "dicom_seed", "title", "json"),
    "extraction": ("preset", "engine", "split_components", "min_voxels", "ith"),
    "harmonisation": ("harmonise", "harmonise_covariates", "batch_table"),
    "reduction": ("reduction", "model", "variance_quantile", "volume_correlation", "feature_correlation",
                  "nonfinite", "strict"),
    "response": ("response_threshold", "response_reading", "missing_followup"),
    "run control": ("jobs", "scheduler", "resume", "retry_failed", "seed", "no_progress", "no_render"),
}


def deprecation_note(prog: str, old: str, new: str) -> None:
    """The one line a deprecated spelling prints (stderr, so piped results stay clean)."""
    print(f"{prog}: {old} is deprecated, use {new}", file=sys.stderr)


def cannot_write(error: OSError, target: object) -> str:
    """The message of a failed write (e.g. a full disk): the file, else ``target``, and the reason."""
    return f"cannot write {error.filename or target}: {error.strerror or error}"


class Renamed(argparse.Action):
    """``store`` under the new name; the spellings in ``old`` still work and print a deprecation note."""

    def __init__(self, option_strings: Sequence[str], dest: str, old: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.old = tuple(old)

    @property
    def name(self) -> str:
        """The current long spelling (the deprecation note's replacement)."""
        return next(s for s in self.option_strings if s.startswith("--") and s not in self.old)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if option_string in self.old:
            value = shlex.quote(str(values))
            deprecation_note(parser.prog, f"{option_string} {value}", f"{self.name} {value}")
        setattr(namespace, self.dest, values)


class PresetOption(Renamed):
    """``--preset``, the PyRadiomics parameter set, where it used to name the feature reduction (`mirv cohort`):
    a reduction name (paper, reference) still selects ``--reduction``, with a deprecation note."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if values in REDUCTIONS:
            deprecation_note(parser.prog, f"{option_string} {values}", f"--reduction {values}")
            namespace.reduction = values
        else:
            super().__call__(parser, namespace, values, option_string)


def add_renamed(container: Any, *flags: str, old: Sequence[str], action: type[Renamed] = Renamed,
                **kwargs: Any) -> argparse.Action:
    """An option (``flags``, e.g. ``"--reduction"``) that the ``old`` spellings still reach, with a deprecation
    note; --help shows the current spelling and names the old one."""
    kwargs["help"] = f"{kwargs.get('help', '')} (formerly {', '.join(old)})".strip()
    return container.add_argument(*flags, *old, action=action, old=tuple(old), **kwargs)


class HelpFormatter(argparse.HelpFormatter):
    """--help without the deprecated spellings in the option list (their help says "formerly ...")."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        old = getattr(action, "old", ())
        if old:
            action = copy.copy(action)
            action.option_strings = [s for s in action.option_strings if s not in old]
        return super()._format_action_invocation(action)


def add_global_options(parser: argparse.ArgumentParser, version: str, *, top_level: bool = True) -> None:
    """``--version`` and ``-v/--verbose``. After a sub-command they default to "not given" (SUPPRESS), so
    ``mirv -v cohort`` and ``mirv cohort -v`` both set verbose and neither resets the other."""
    group = parser if top_level else parser.add_argument_group("global options")
    group.add_argument("--version", action="version", version=f"mirv {version}", help="show the version and exit")
    group.add_argument("-v", "--verbose", action="store_true", default=False if top_level else argparse.SUPPRESS,
                       help="log progress details")


def group_options(parser: argparse.ArgumentParser) -> None:
    """Move the parser's ungrouped options into the :data:`HELP_GROUPS` groups (argparse has no public API for
    regrouping; ``_optionals``/``_group_actions`` have been stable since Python 2.7)."""
    ungrouped = parser._optionals._group_actions
    for title, dests in HELP_GROUPS.items():
        members = [action for action in ungrouped if action.dest in dests]
        if members:
            group = parser.add_argument_group(title)
            group._group_actions.extend(members)
            ungrouped[:] = [action for action in ungrouped if action not in members]


def sub_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every sub-command parser below ``parser`` (``mirv stats`` and its analyses included), each once."""
    seen: set[int] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if id(child) not in seen:
                    seen.add(id(child))
                    yield child
                    yield from sub_parsers(child)


def finish_parser(parser: argparse.ArgumentParser, version: str | None = None) -> None:
    """Help groups, the deprecation-aware help format and (with ``version``, for `mirv` sub-commands) the global
    flags for one parser."""
    parser.formatter_class = HelpFormatter
    group_options(parser)
    if version is not None:
        add_global_options(parser, version, top_level=False)
