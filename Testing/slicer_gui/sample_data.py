"""A stand-in for Slicer's ``SampleData`` module (Modules/Scripted/SampleData/SampleData.py, 5.8 → main).

``registerCustomSampleDataSource`` has Slicer's signature and its checks (one uri per file name, node name and
checksum; a source registered twice is kept once). ``downloadSamples`` does what Slicer's downloader does for a
source of files with node names: ``urllib.request.urlretrieve`` each uri into the cache folder unless a copy with
the right checksum is there, verify the ``SHA256:`` checksum, load the file as a node with the given name and no
storage node (Slicer's coreIOManager reader; here the volume and segmentation storage nodes).
"""

from __future__ import annotations

import hashlib
import tempfile
import types
import urllib.request
from pathlib import Path
from typing import Any

import slicer

SOURCES: dict[str, list[dict[str, Any]]] = {}
CACHE = Path(tempfile.mkdtemp(prefix="SlicerCache-"))


def registerCustomSampleDataSource(category="Custom", sampleName=None, uris=None, fileNames=None,  # noqa: N802
                                   nodeNames=None, customDownloader=None, thumbnailFileName=None,
                                   loadFileTypes=None, loadFiles=None, loadFileProperties={},  # noqa: B006
                                   checksums=None, loadFileType=None) -> None:
    uris, fileNames, nodeNames, checksums = ([x] if isinstance(x, str) else list(x or [])
                                             for x in (uris, fileNames, nodeNames, checksums))
    if not len(uris) == len(fileNames) == len(nodeNames) == len(checksums):
        raise ValueError("All fields of sample data source must have the same length")
    source = {"sampleName": sampleName, "uris": uris, "fileNames": fileNames, "nodeNames": nodeNames,
              "checksums": checksums, "thumbnailFileName": thumbnailFileName}
    if source not in SOURCES.setdefault(category, []):
        SOURCES[category].append(source)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(path: Path, name: str) -> Any:
    scene = slicer.mrmlScene
    if path.name.lower().endswith(".seg.nrrd"):
        node, storage = "vtkMRMLSegmentationNode", "vtkMRMLSegmentationStorageNode"
    else:
        node, storage = "vtkMRMLScalarVolumeNode", "vtkMRMLVolumeArchetypeStorageNode"
    loaded = scene.AddNewNodeByClass(node, name)
    reader = scene.AddNewNodeByClass(storage)
    reader.SetFileName(str(path))
    if not reader.ReadData(loaded):
        raise RuntimeError(f"Load failed: {path}")
    scene.RemoveNode(reader)
    loaded.CreateDefaultDisplayNodes()
    return loaded


def downloadSamples(sampleName: str) -> list:  # noqa: N802
    source = next(s for sources in SOURCES.values() for s in sources if s["sampleName"] == sampleName)
    nodes = []
    for uri, file_name, node_name, checksum in zip(source["uris"], source["fileNames"], source["nodeNames"],
                                                   source["checksums"]):
        algorithm, digest = checksum.split(":", 1)
        assert algorithm == "SHA256", f"unsupported checksum {checksum}"
        path = CACHE / file_name
        if not path.is_file() or _sha256(path) != digest:
            urllib.request.urlretrieve(uri, path)
            if _sha256(path) != digest:
                raise ValueError(f"Checksum verification failed for {uri}")
        nodes.append(_load(path, node_name))
    return nodes


def module() -> types.ModuleType:
    sample_data = types.ModuleType("SampleData")
    sample_data.SampleDataLogic = types.SimpleNamespace(registerCustomSampleDataSource=registerCustomSampleDataSource)
    sample_data.downloadSamples = downloadSamples
    return sample_data
