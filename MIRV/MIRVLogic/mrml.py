"""MRML nodes ↔ what MIRVLib reads: a volume node as a SimpleITK image, segments as `Lesion` masks, sites as tags.

Slicer stores geometry in RAS, ITK (and so PyRadiomics and every file MIRVLib reads) in LPS: the first two
axes change sign. Masks are taken on the volume's own voxel grid, so a segmentation drawn on that CT (or
read from a ``.seg.nrrd`` cropped to its segments) maps voxel for voxel, without interpolation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util.numpy_support import vtk_to_numpy

from MIRVLib.lesions import Lesion, conform_mask
from MIRVLogic.sites import segment_site

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def _untransformed(node, what: str) -> None:
    if node.GetParentTransformNode() is not None:
        raise ValueError(f"{what} '{node.GetName()}' is under a transform; harden the transform first")


def ijk_to_ras(volume_node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return slicer.util.arrayFromVTKMatrix(matrix)


def sitk_image_from_volume(volume_node) -> sitk.Image:
    """The volume's voxels with its exact geometry (spacing, origin, direction) in LPS, as ITK expects."""
    if volume_node is None or volume_node.GetImageData() is None:
        raise ValueError("no image data: select a loaded CT volume")
    _untransformed(volume_node, "volume")
    if volume_node.GetImageData().GetNumberOfScalarComponents() != 1:
        raise ValueError(f"volume '{volume_node.GetName()}' is not a scalar image (e.g. RGB); select a CT")
    image = sitk.GetImageFromArray(slicer.util.arrayFromVolume(volume_node))  # (k, j, i) → (i, j, k) image
    matrix = RAS_TO_LPS @ ijk_to_ras(volume_node)[:3]
    spacing = np.linalg.norm(matrix[:, :3], axis=0)
    image.SetSpacing(spacing.tolist())
    image.SetOrigin(matrix[:, 3].tolist())
    image.SetDirection((matrix[:, :3] / spacing).flatten().tolist())
    return image


def volume_from_sitk_image(scene, image: sitk.Image, name: str):
    """A new scalar volume node holding ``image`` (the inverse of :func:`sitk_image_from_volume`): an image
    MIRVLib read itself — a DICOM CT series through `MIRVLib.dicom.series` — enters the scene voxel for voxel."""
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    slicer.util.updateVolumeFromArray(volume, sitk.GetArrayFromImage(image))  # (k, j, i) array of the (i, j, k) image
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    matrix = np.eye(4)
    matrix[:3, :3] = RAS_TO_LPS @ direction @ np.diag(image.GetSpacing())
    matrix[:3, 3] = RAS_TO_LPS @ np.asarray(image.GetOrigin(), float)
    volume.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(matrix))
    return volume


def segment_ids(segmentation_node, segment_ids: Sequence[str] | None = None) -> list[str]:
    """All segment ids in order, or the given ones (each checked to exist)."""
    segmentation = segmentation_node.GetSegmentation()
    every = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    if segment_ids is None:
        return every
    missing = [s for s in segment_ids if s not in every]
    if missing:
        raise ValueError(f"segmentation '{segmentation_node.GetName()}' has no segment(s) {missing}")
    return list(segment_ids)


def lesions_from_segmentation(segmentation_node, volume_node, ids: Sequence[str] | None = None,
                              reference: sitk.Image | None = None) -> list[Lesion]:
    """One `Lesion` per segment, its mask the segment's box on the volume's grid (an empty segment is reported by the extraction).

    ``reference``: the volume's image if the caller already made it (`sitk_image_from_volume` copies every voxel).
    """
    _untransformed(segmentation_node, "segmentation")
    reference = reference if reference is not None else sitk_image_from_volume(volume_node)
    if not segmentation_node.GetSegmentation().ContainsRepresentation("Binary labelmap"):
        segmentation_node.CreateBinaryLabelmapRepresentation()
    lesions = []
    for segment_id in segment_ids(segmentation_node, ids):
        segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
        array = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation_node, segment_id, volume_node)
        mask = sitk.GetImageFromArray((np.asarray(array) != 0).astype(np.uint8))
        mask.CopyInformation(reference)
        mask, _ = conform_mask(mask, reference, segment.GetName())  # keep the segment's box only
        lesions.append(Lesion(segment.GetName(), mask, segment_site(segmentation_node, segment_id) or None,
                              tuple(segment.GetColor()), segment_id))
    return lesions


def segment_centroids(segmentation_node, ids: Sequence[str]) -> np.ndarray:
    """RAS centre of mass of each segment's voxels (shared labelmap layers handled by label value)."""
    _untransformed(segmentation_node, "segmentation")
    if not segmentation_node.GetSegmentation().ContainsRepresentation("Binary labelmap"):
        segmentation_node.CreateBinaryLabelmapRepresentation()
    centroids = []
    for segment_id in ids:
        segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
        labelmap = segment.GetRepresentation("Binary labelmap")
        if labelmap is None or labelmap.GetPointData().GetScalars() is None:
            raise ValueError(f"segment '{segment.GetName()}' has no binary labelmap")
        dims = labelmap.GetDimensions()
        voxels = vtk_to_numpy(labelmap.GetPointData().GetScalars()).reshape(dims[2], dims[1], dims[0])
        k, j, i = np.nonzero(voxels == segment.GetLabelValue())
        if k.size == 0:
            raise ValueError(f"segment '{segment.GetName()}' is empty: no centroid")
        extent = labelmap.GetExtent()
        ijk = np.array([i.mean() + extent[0], j.mean() + extent[2], k.mean() + extent[4], 1.0])
        matrix = vtk.vtkMatrix4x4()
        labelmap.GetImageToWorldMatrix(matrix)
        world = slicer.util.arrayFromVTKMatrix(matrix) @ ijk
        centroids.append(world[:3])
    return np.array(centroids).reshape(-1, 3)
