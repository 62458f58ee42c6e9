"""Which modules a piece of code imports, seen from a fresh interpreter (start-up time is import time)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence


def modules_loaded_by(code: str, watched: Sequence[str]) -> list[str]:
    """The watched modules loaded after ``code`` runs in a new interpreter, sorted.

    A watched name ending in ``.`` stands for every module below it (``"MIRVLib.commands."``).
    """
    probe = (
        f"{code}\nimport sys\nwatched = {list(watched)!r}\n"
        "print('LOADED', ','.join(sorted(m for m in sys.modules\n"
        "      if any(m == w or (w.endswith('.') and m.startswith(w)) for w in watched))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("LOADED"), done.stdout
    return [m for m in line.removeprefix("LOADED").strip().split(",") if m]
