"""A real headless 3D Slicer for tests: MRML, module logics and Slicer's own 3D rendering from PyPI's slicer-core.

The set-up itself lives in ``MIRV/MIRVLogic/headless.py`` (the headless scripts use it too); this module puts
``MIRV/`` on sys.path as a Slicer module path does and skips the importing test module without slicer-core.
``make_slicer_environment()`` gives a fresh scene as ``slicer.mrmlScene``, the core and MIRV module logics under
``slicer.modules`` and ``render`` for offscreen PNGs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install '.[slicer]')")

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT / "MIRV") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "MIRV"))

from MIRVLogic.headless import make_slicer_environment  # noqa: E402,F401  (re-exported for the tests)

_STORAGE_CLASSES = {
    "vtkMRMLScalarVolumeNode": "vtkMRMLVolumeArchetypeStorageNode",
    "vtkMRMLSegmentationNode": "vtkMRMLSegmentationStorageNode",
}


SAMPLE = REPO_ROOT / "Resources" / "SampleData"


def load_sample_patient(scene, timepoint: str = "baseline"):
    """The bundled sample patient's CT and lesion segmentation at ``timepoint``, read into ``scene`` with Slicer's
    own storage nodes: (volume "<timepoint> CT", segmentation "<timepoint> lesions")."""
    nodes = []
    for node_class, name, file in (("vtkMRMLScalarVolumeNode", "CT", "CT.nrrd"),
                                   ("vtkMRMLSegmentationNode", "lesions", "lesions.seg.nrrd")):
        node = scene.AddNewNodeByClass(node_class, f"{timepoint} {name}")
        storage = scene.AddNewNodeByClass(_STORAGE_CLASSES[node_class])
        storage.SetFileName(str(SAMPLE / f"{timepoint}_{file}"))
        assert storage.ReadData(node), f"could not read {storage.GetFileName()}"
        nodes.append(node)
    return tuple(nodes)


def write_node(scene, node, path: Path) -> Path:
    """Save a volume or segmentation node with Slicer's own storage node (slicer.util.saveNode needs Qt)."""
    storage = scene.AddNewNodeByClass(_STORAGE_CLASSES[node.GetClassName()])
    storage.SetFileName(str(path))
    assert storage.WriteData(node), f"could not write {node.GetName()} to {path}"
    return Path(path)
