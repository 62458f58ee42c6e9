"""Which of MIRV's requirements (``Resources/requirements.txt``) this Python does not meet, by distribution and version.

An import name is not enough: another extension may already have put an older or a different package under the
same name into Slicer's Python, and then MIRV's pins would never be applied. ``packaging`` (bundled with Slicer
since 5.8) reads the requirement lines; ``importlib.metadata`` gives the installed versions. No Slicer, no Qt, and
nothing MIRV installs is imported, so the module can ask before anything is missing at import time.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

from packaging.requirements import Requirement


def read_requirements(path: str | os.PathLike[str]) -> list[Requirement]:
    """The requirement lines of a requirements file (comments, blank lines and pip options skipped)."""
    lines = (line.split("#", 1)[0].strip() for line in Path(path).read_text(encoding="utf-8").splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def unmet_requirements(path: str | os.PathLike[str]) -> list[str]:
    """The requirements of ``path`` that are not installed, or installed in a version outside their specifier."""
    unmet = []
    for requirement in read_requirements(path):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            unmet.append(str(requirement))
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            unmet.append(str(requirement))
    return unmet
