#!/usr/bin/env python
"""Render the README's picture of a matrix cell clicked in the MIRV module, offscreen through the module's Logic.

The sample patient is scored as the module does it; the overlay is shown and one lesion pair highlighted, as a
click on its matrix cell does (white tube; the most divergent pair keeps its cyan halo). Needs slicer-core and
offscreen OpenGL (VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow); writes ``selected-pair3d.png`` next to itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(REPO), str(REPO / "MIRV"), str(REPO / "MIRV" / "Scripts")]

from MIRVBatch import load_timepoint  # noqa: E402

from MIRVLogic.headless import make_slicer_environment, render_3d  # noqa: E402

PAIR = ("Liver met", "Axillary node L")


def main() -> None:
    environment = make_slicer_environment()
    logic = environment.logic("mirv")
    sample = REPO / "Resources" / "SampleData"
    volume, segmentation = load_timepoint(environment.scene, sample / "baseline_CT.nrrd",
                                          sample / "baseline_lesions.seg.nrrd", None)
    result = logic.computeMIRV(logic.extractFeatures(volume, segmentation, patientID="SAMPLE"))
    logic.showDissimilarityOverlay(segmentation, result)
    logic.highlightPair(segmentation, result, PAIR)
    render_3d(environment.scene, environment.application_logic, HERE / "selected-pair3d.png", size=(900, 700),
              azimuth=-35, elevation=15)


if __name__ == "__main__":
    main()
