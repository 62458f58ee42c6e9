#!/usr/bin/env python
"""One patient's lesion features in a process of its own, started by `MIRVLogic.extraction_job` (Slicer's GUI
thread only polls it, so the application never freezes).

Usage: ``extraction_worker.py JOB_FOLDER``. Reads the request the module pickled there (image, lesion masks,
preset, patient ID, processes), calls `MIRVLib.extraction.extract_patient` — the call the in-process
``MIRVLogic.extractFeatures`` makes — and writes the feature table and provenance atomically. After every lesion it
appends ``[done, total, lesion]`` as a JSON line to the progress file and stops once the cancel file exists, so a
Cancel takes effect within one lesion. Imports MIRVLib only: no Slicer, no Qt.
Exit codes: 0 done, 3 cancelled, 1 error (traceback on stderr).
"""

from __future__ import annotations

import json
import pickle
import sys
import traceback
from pathlib import Path

REQUEST, RESULT, PROGRESS, CANCEL = "request.pickle", "result.pickle", "progress.jsonl", "cancel"
EXIT_DONE, EXIT_ERROR, EXIT_CANCELLED = 0, 1, 3


class Cancelled(Exception):
    """The cancel file appeared: stop after the lesion just finished."""


def run(folder: Path) -> int:
    from MIRVLib.extraction import extract_patient

    request = pickle.loads((folder / REQUEST).read_bytes())
    with open(folder / PROGRESS, "a", encoding="utf-8") as log:

        def progress(done: int, total: int, name: str) -> None:
            log.write(json.dumps([done, total, name]) + "\n")
            log.flush()
            if (folder / CANCEL).exists():
                raise Cancelled

        try:
            result = extract_patient(request["image"], request["lesions"], request["preset"], request["patientID"],
                                     request["jobs"], progress)
        except Cancelled:
            return EXIT_CANCELLED
    partial = folder / f"{RESULT}.part"
    partial.write_bytes(pickle.dumps({"features": result.features, "provenance": result.provenance}))
    partial.replace(folder / RESULT)
    return EXIT_DONE


if __name__ == "__main__":
    try:
        code = run(Path(sys.argv[1]))
    except BaseException:  # noqa: BLE001 - the module shows this traceback as the extraction's error
        traceback.print_exc()
        code = EXIT_ERROR
    sys.exit(code)
