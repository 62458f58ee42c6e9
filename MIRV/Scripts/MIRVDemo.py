#!/usr/bin/env python
"""`make demo`: the per-patient MIRV pipeline, headless, on the bundled sample patient (baseline + follow-up).

Runs ``MIRVBatch.py`` — the MIRV Slicer module's Logic — on ``Resources/SampleData`` (found by
`MIRVLib.resources.resources_dir`, in the repository and in an installed extension alike) and writes into ``--out``
(default ``demo-output``): lesion feature tables, ``patients.csv``, the dissimilarity/distance matrices (CSV,
PNG), a 3D render of the overlay, a one-page HTML report and provenance; the readout is printed.
Works with plain Python + slicer-core and inside Slicer (``Slicer --no-main-window --python-script``).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

SCRIPTS_DIR = Path(globals().get("__file__", sys.argv[0])).resolve().parent
if str(SCRIPTS_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPTS_DIR))

import MIRVBatch  # noqa: E402  (puts MIRVLogic/MIRVLib on sys.path)

from MIRVLib.resources import resources_dir  # noqa: E402

SAMPLE = resources_dir() / "SampleData"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="MIRVDemo.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("demo-output"), help="output folder (default demo-output)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="extraction processes (default 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"MIRV demo: sample patient from {SAMPLE} (see its README for origin and licence)")
    status = MIRVBatch.main([
        "--image", str(SAMPLE / "baseline_CT.nrrd"), "--lesions", str(SAMPLE / "baseline_lesions.seg.nrrd"),
        "--follow-up-image", str(SAMPLE / "followup_CT.nrrd"),
        "--follow-up-lesions", str(SAMPLE / "followup_lesions.seg.nrrd"),
        "--patient-id", "SAMPLE", "--out", str(args.out), "--jobs", str(args.jobs),
    ])
    if status == 0:
        print(f"MIRV demo done: open {args.out / 'SAMPLE_report.html'}")
    else:
        print(f"MIRV demo FAILED (exit code {status})", file=sys.stderr)
    return status


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 2
    except BaseException:  # noqa: BLE001 - printed with its traceback, non-zero exit
        traceback.print_exc()
        code = 1
    MIRVBatch._exit(code)
