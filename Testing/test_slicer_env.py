"""The slicer-core test environment is real Slicer: MRML nodes, segment round trips, offscreen 3D renders."""

from __future__ import annotations

import numpy as np
import pytest
from slicer_env import slicer  # noqa: F401  (skips when slicer-core is absent)

pytestmark = pytest.mark.slicer


def _volume_with_three_segments(env):
    rng = np.random.default_rng(3)
    voxels = rng.normal(40, 10, size=(24, 40, 48)).astype(np.float32)  # (k, j, i) as slicer.util expects
    volume = slicer.util.addVolumeFromArray(voxels, name="CT")
    volume.SetSpacing(0.8, 0.8, 2.0)
    segmentation = env.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Lesions")
    segmentation.CreateDefaultDisplayNodes()
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    masks = {}
    k, j, i = np.indices(voxels.shape)
    for name, (ck, cj, ci, r) in {"lung": (8, 12, 12, 4), "liver": (14, 28, 30, 6), "bone": (18, 10, 38, 3)}.items():
        mask = ((k - ck) ** 2 * 4 + (j - cj) ** 2 + (i - ci) ** 2 < r**2).astype(np.uint8)
        segment_id = segmentation.GetSegmentation().AddEmptySegment(name, name)
        slicer.util.updateSegmentBinaryLabelmapFromArray(mask, segmentation, segment_id, volume)
        masks[segment_id] = mask
    return volume, segmentation, masks


def test_scene_and_module_logics_are_installed(slicer_env):
    assert slicer.mrmlScene is slicer_env.scene
    assert slicer.modules.segmentations.logic().GetMRMLScene() is slicer_env.scene
    assert slicer.modules.volumes.logic().GetMRMLScene() is slicer_env.scene


def test_segments_built_from_numpy_read_back_voxel_for_voxel(slicer_env):
    volume, segmentation, masks = _volume_with_three_segments(slicer_env)
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 3
    for segment_id, mask in masks.items():
        back = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segment_id, volume)
        np.testing.assert_array_equal(back, mask)
        assert back.sum() == mask.sum() > 0


def test_offscreen_3d_render_shows_the_segments(slicer_env, tmp_path):
    _, segmentation, _ = _volume_with_three_segments(slicer_env)
    segmentation.GetDisplayNode().SetVisibility(False)
    background = slicer_env.render(tmp_path / "background.png").pixels
    segmentation.GetDisplayNode().SetVisibility(True)
    segmentation.CreateClosedSurfaceRepresentation()
    pixels = slicer_env.render(tmp_path / "segments.png").pixels
    assert (tmp_path / "segments.png").stat().st_size > 1000
    changed = np.any(pixels != background, axis=-1)
    assert changed.mean() > 0.005, "segments should cover part of the view"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, "a shaded render, not a flat image"


def test_rendering_leaves_the_applications_views_alone(slicer_env, tmp_path):
    """Inside Slicer the scene's 3D view is on screen: an offscreen render (MIRVBatch.py, the report) must not move
    its camera, nor add nodes the application would build views for."""
    _volume_with_three_segments(slicer_env)
    view = slicer_env.scene.AddNewNodeByClass("vtkMRMLViewNode")
    view.SetLayoutName("1")
    camera = slicer_env.scene.AddNewNodeByClass("vtkMRMLCameraNode")
    camera.SetLayoutName("1")
    camera.SetPosition(10.0, -400.0, 30.0)
    camera.SetFocalPoint(1.0, 2.0, 3.0)
    nodes = slicer_env.scene.GetNumberOfNodes()
    for azimuth in (30.0, 120.0):
        slicer_env.render(tmp_path / f"render{azimuth}.png", azimuth=azimuth)
    assert camera.GetPosition() == (10.0, -400.0, 30.0) and camera.GetFocalPoint() == (1.0, 2.0, 3.0)
    assert slicer_env.scene.GetNumberOfNodes() == nodes
    assert (view.GetBoxVisible(), view.GetAxisLabelsVisible()) == (True, True)  # the view's own settings kept
