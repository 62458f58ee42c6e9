"""3D overlay of a patient's pairwise lesion (dis)similarity: tubes between segment centroids, coloured lesions.

One tube per lesion pair, its value on every tube point as the active scalar (colour through a colour
table node over the fixed `MIRVLib.colour_scale.ColourScale` of the matrix PNG, a colour legend stating that
scale next to it) and its radius growing with the value's position on that scale; the most divergent pair gets a
translucent halo in its own model, and a pair picked in the module's matrix a white one. Lesions take the
colour of their mean value to the other lesions. The segments' original colours and 3D opacity are kept as node
attributes, so hiding restores them exactly — even after the scene was saved and reloaded.
"""

from __future__ import annotations

import json
import warnings

import matplotlib
import numpy as np
import slicer
import vtk
from vtk.util.numpy_support import numpy_to_vtk

from MIRVLib.colour_scale import COLORMAP, ColourScale
from MIRVLogic.mrml import segment_centroids

OVERLAY_ATTRIBUTE = "MIRV.OverlayNodeIDs"
ORIGINAL_COLORS_ATTRIBUTE = "MIRV.OriginalSegmentColors"
ORIGINAL_OPACITY_ATTRIBUTE = "MIRV.OriginalOpacity3D"
PAIR_ARRAY = "PairIndex"
HALO_COLOR = (0.0, 0.9, 1.0)  # cyan: outside the colour map
SELECTED_COLOR = (1.0, 1.0, 1.0)  # white: outside the colour map, unlike the halo; the pair picked in the matrix
SELECTED_PAIR_ATTRIBUTE = "MIRV.SelectedPairNodeID"
SEGMENT_OPACITY_WITH_OVERLAY = 0.45


def color_table_node(scene, name: str, colormap: str = COLORMAP, count: int = 256):
    """A colour table node sampled from a matplotlib colour map (reused by name)."""
    node = scene.GetFirstNode(name, "vtkMRMLColorTableNode", False)
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", name)
        node.SetTypeToUser()
        node.SetNumberOfColors(count)
        node.SetHideFromEditors(False)
        colors = matplotlib.colormaps[colormap](np.linspace(0.0, 1.0, count))
        for index, (r, g, b, a) in enumerate(colors):
            node.SetColor(index, f"{index}", r, g, b, a)
        node.SetAttribute("MIRV.Colormap", colormap)
    return node


def legend_title(metric_label: str, scale: ColourScale) -> str:
    """The legend's title: the metric and its fixed scale (short: the 3D view is narrow; the PNG says more)."""
    return f"{metric_label}\nfixed scale {scale.low:.3g}–{scale.high:.3g}"


def tube_polydata(starts: np.ndarray, ends: np.ndarray, values: np.ndarray, radii: np.ndarray,
                  value_name: str, sides: int = 24) -> vtk.vtkPolyData:
    """Tubes from ``starts[i]`` to ``ends[i]``; every point carries its tube's value and index (point data)."""
    append = vtk.vtkAppendPolyData()
    for index, (start, end, value, radius) in enumerate(zip(starts, ends, values, radii)):
        line = vtk.vtkLineSource()
        line.SetPoint1(*start)
        line.SetPoint2(*end)
        tube = vtk.vtkTubeFilter()
        tube.SetInputConnection(line.GetOutputPort())
        tube.SetRadius(float(radius))
        tube.SetNumberOfSides(sides)
        tube.CappingOn()
        tube.Update()
        piece = vtk.vtkPolyData()
        piece.DeepCopy(tube.GetOutput())
        count = piece.GetNumberOfPoints()
        for name, array_values in ((value_name, np.full(count, value)), (PAIR_ARRAY, np.full(count, index))):
            array = numpy_to_vtk(array_values.astype(float), deep=True)
            array.SetName(name)
            piece.GetPointData().AddArray(array)
        append.AddInputData(piece)
    append.Update()
    output = vtk.vtkPolyData()
    output.DeepCopy(append.GetOutput())
    output.GetPointData().SetActiveScalars(value_name)
    return output


def _model(scene, name: str, polydata: vtk.vtkPolyData):
    model = scene.AddNewNodeByClass("vtkMRMLModelNode", name)
    model.SetAndObservePolyData(polydata)
    model.CreateDefaultDisplayNodes()
    return model


def show_overlay(segmentation_node, segment_ids: list[str], matrix: np.ndarray, metric_label: str,
                 most_divergent: tuple[int, int] | None, scale: ColourScale):
    """Build the overlay for the segments ``segment_ids`` (matrix rows/columns in the same order), coloured on
    ``scale`` (the matrix PNG's scale)."""
    scene = segmentation_node.GetScene()
    hide_overlay(segmentation_node)
    centroids = segment_centroids(segmentation_node, segment_ids)
    upper_i, upper_j = np.triu_indices(len(segment_ids), k=1)
    values = matrix[upper_i, upper_j]
    defined = np.isfinite(values)
    upper_i, upper_j, values = upper_i[defined], upper_j[defined], values[defined]
    if values.size == 0:
        raise ValueError("no lesion pair with a defined value: nothing to show")
    extent = np.ptp(centroids, axis=0).max() if len(centroids) > 1 else 1.0
    max_radius = max(0.012 * extent, 0.5)
    radii = max_radius * (0.25 + 0.75 * scale.fractions(values))
    polydata = tube_polydata(centroids[upper_i], centroids[upper_j], values, radii, metric_label)
    colors = color_table_node(scene, f"MIRV {metric_label}", scale.colormap)
    model = _model(scene, f"MIRV {metric_label} overlay", polydata)
    display = model.GetDisplayNode()
    display.SetAndObserveColorNodeID(colors.GetID())
    display.SetActiveScalar(metric_label, vtk.vtkAssignAttribute.POINT_DATA)
    display.SetScalarVisibility(True)
    display.SetScalarRangeFlag(slicer.vtkMRMLDisplayNode.UseManualScalarRange)
    display.SetScalarRange(scale.low, scale.high)
    display.SetVisibility2D(False)
    legend = slicer.modules.colors.logic().AddDefaultColorLegendDisplayNode(model)
    if legend is not None:
        legend.SetTitleText(legend_title(metric_label, scale))
        legend.SetLabelFormat("%.2f")
        legend.SetSize(0.12, 0.45)
        legend.SetVisibility(True)
    nodes = [model]
    if most_divergent is not None:
        a, b = most_divergent
        nodes.append(_solid_tube(scene, f"MIRV most divergent pair ({metric_label})", centroids[a], centroids[b],
                                 matrix[a, b], max_radius * 1.9, metric_label, HALO_COLOR, 0.5))
    _color_segments(segmentation_node, segment_ids, matrix, scale)
    segmentation_node.CreateClosedSurfaceRepresentation()  # lesions visible in 3D around the tube ends
    segmentation_node.SetAttribute(OVERLAY_ATTRIBUTE, json.dumps([node.GetID() for node in nodes]))
    return model


def _color_segments(segmentation_node, segment_ids: list[str], matrix: np.ndarray, scale: ColourScale) -> None:
    segmentation = segmentation_node.GetSegmentation()
    if segmentation_node.GetAttribute(ORIGINAL_COLORS_ATTRIBUTE) is None:  # keep the very first originals
        everything = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
        original = {sid: list(segmentation.GetSegment(sid).GetColor()) for sid in everything}
        segmentation_node.SetAttribute(ORIGINAL_COLORS_ATTRIBUTE, json.dumps(original))
    display = segmentation_node.GetDisplayNode()
    if display is not None and segmentation_node.GetAttribute(ORIGINAL_OPACITY_ATTRIBUTE) is None:
        segmentation_node.SetAttribute(ORIGINAL_OPACITY_ATTRIBUTE, repr(display.GetOpacity3D()))
        display.SetOpacity3D(SEGMENT_OPACITY_WITH_OVERLAY)
    off_diagonal = matrix.astype(float).copy()
    np.fill_diagonal(off_diagonal, np.nan)
    with warnings.catch_warnings():  # a lesion without any defined pair has no mean: grey
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(off_diagonal, axis=1)
    for segment_id, rgb in zip(segment_ids, scale.colors(means)):
        segmentation.GetSegment(segment_id).SetColor(*rgb)


def highlight_pair(segmentation_node, segment_ids: tuple[str, str], label: str):
    """A translucent white tube between two lesions (the pair picked in the matrix); it replaces the previous
    one and belongs to the overlay, so hiding the overlay removes it too."""
    scene = segmentation_node.GetScene()
    previous_id = segmentation_node.GetAttribute(SELECTED_PAIR_ATTRIBUTE)
    previous = scene.GetNodeByID(previous_id) if previous_id else None
    if previous is not None:
        _remove_model(scene, previous)
    centroids = segment_centroids(segmentation_node, list(segment_ids))
    radius = max(0.02 * float(np.linalg.norm(centroids[1] - centroids[0])), 1.0)
    model = _solid_tube(scene, f"MIRV selected pair: {label}", centroids[0], centroids[1], 0.0, radius, label,
                        SELECTED_COLOR, 0.6)
    ids = [node.GetID() for node in overlay_nodes(segmentation_node)] + [model.GetID()]
    segmentation_node.SetAttribute(OVERLAY_ATTRIBUTE, json.dumps(ids))
    segmentation_node.SetAttribute(SELECTED_PAIR_ATTRIBUTE, model.GetID())
    return model


def _solid_tube(scene, name: str, start: np.ndarray, end: np.ndarray, value: float, radius: float, label: str,
                color: tuple[float, float, float], opacity: float):
    """One translucent tube of a single colour (not the colour table), 3D only: the halo and the selected pair."""
    polydata = tube_polydata(np.asarray([start]), np.asarray([end]), np.array([value]), np.array([radius]), label,
                             sides=32)
    model = _model(scene, name, polydata)
    display = model.GetDisplayNode()
    display.SetScalarVisibility(False)
    display.SetColor(*color)
    display.SetOpacity(opacity)
    display.SetVisibility2D(False)
    return model


def _remove_model(scene, node) -> None:
    for index in reversed(range(node.GetNumberOfDisplayNodes())):
        display = node.GetNthDisplayNode(index)
        if display is not None:
            scene.RemoveNode(display)
    scene.RemoveNode(node)


def overlay_nodes(segmentation_node) -> list:
    scene = segmentation_node.GetScene()
    ids = json.loads(segmentation_node.GetAttribute(OVERLAY_ATTRIBUTE) or "[]")
    return [node for node in (scene.GetNodeByID(i) for i in ids) if node is not None]


def hide_overlay(segmentation_node) -> None:
    """Remove the overlay models (and their legends) and give the segments back their colours and opacity."""
    scene = segmentation_node.GetScene()
    for node in overlay_nodes(segmentation_node):
        _remove_model(scene, node)
    segmentation_node.RemoveAttribute(OVERLAY_ATTRIBUTE)
    segmentation_node.RemoveAttribute(SELECTED_PAIR_ATTRIBUTE)
    original = segmentation_node.GetAttribute(ORIGINAL_COLORS_ATTRIBUTE)
    if original is not None:
        segmentation = segmentation_node.GetSegmentation()
        for segment_id, rgb in json.loads(original).items():
            segment = segmentation.GetSegment(segment_id)
            if segment is not None:
                segment.SetColor(*rgb)
        segmentation_node.RemoveAttribute(ORIGINAL_COLORS_ATTRIBUTE)
    opacity = segmentation_node.GetAttribute(ORIGINAL_OPACITY_ATTRIBUTE)
    if opacity is not None:
        if segmentation_node.GetDisplayNode() is not None:
            segmentation_node.GetDisplayNode().SetOpacity3D(float(opacity))
        segmentation_node.RemoveAttribute(ORIGINAL_OPACITY_ATTRIBUTE)
