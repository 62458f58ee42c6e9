"""Slicer without its application: what the desktop app sets up at start-up, for slicer-core (PyPI) and scripts.

slicer-core has MRML, the module logics and Slicer's displayable managers, but no Qt and no ``slicer.app``.
:func:`make_slicer_environment` builds a fresh ``vtkMRMLScene`` as ``slicer.mrmlScene``, the core module logics
(colors, volumes, segmentations, tables, models) and the MIRV module logics under ``slicer.modules.<name>``.
:func:`render_3d` draws a scene through Slicer's own 3D displayable managers into an offscreen window (EGL) and
saves a PNG; it also runs inside the application (``MIRVBatch.py``), where it leaves the user's 3D view as it
was. Used by the tests (``Testing/slicer_env.py``) and the headless scripts.
"""

from __future__ import annotations

import os
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import slicer
import vtk  # after slicer, which pins the VTK it was built with
from vtk.util.numpy_support import vtk_to_numpy

THREE_D_DISPLAYABLE_MANAGERS = (
    "vtkMRMLCameraDisplayableManager",
    "vtkMRMLViewDisplayableManager",
    "vtkMRMLModelDisplayableManager",
    "vtkMRMLSegmentationsDisplayableManager3D",
    "vtkMRMLColorLegendDisplayableManager",
)


def in_slicer_application() -> bool:
    """True inside the Slicer desktop application (also with ``--no-main-window``)."""
    return hasattr(slicer, "app")


if not in_slicer_application():  # slicer-core on a server: offscreen windows through EGL (read at window creation)
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


class _Module:
    """What ``slicer.modules.<name>`` is in the application, reduced to what logic code uses."""

    def __init__(self, logic: Any) -> None:
        self._logic = logic

    def logic(self) -> Any:
        return self._logic


@dataclass
class Render:
    """An offscreen render: RGB pixels (row 0 = top) and, if asked, where given RAS points landed (x, y)."""

    pixels: np.ndarray
    points: np.ndarray | None = None


CAMERA_STATE = ("Position", "FocalPoint", "ViewUp", "ViewAngle", "ParallelScale", "ParallelProjection")


def render_3d(scene: Any, application_logic: Any, path: str | os.PathLike[str], size: tuple[int, int] = (640, 480),
              azimuth: float = 30.0, elevation: float = 20.0, bounds: Sequence[float] | None = None,
              points: Sequence[Sequence[float]] | None = None) -> Render:
    """Render the scene's first 3D view (created if missing) offscreen, without bounding box and axis labels, and
    save a PNG. Inside Slicer that view is on screen: its camera and settings are given back unchanged afterwards
    (the camera displayable manager drives the view's camera node, so aiming this render moves it).

    ``bounds`` (xmin, xmax, ymin, ymax, zmin, zmax in RAS) fixes the camera, so two renders of different
    content are pixel-comparable; ``points`` (RAS) are projected to pixel (column, row) positions.
    """
    view = scene.GetFirstNodeByClass("vtkMRMLViewNode") or _add_view_node(scene)
    camera_node = next((node for node in (scene.GetNthNodeByClass(i, "vtkMRMLCameraNode")
                                          for i in range(scene.GetNumberOfNodesByClass("vtkMRMLCameraNode")))
                        if node.GetLayoutName() == view.GetLayoutName()), None)
    camera_state = {name: getattr(camera_node, f"Get{name}")() for name in CAMERA_STATE} if camera_node else {}
    view_state = (view.GetBoxVisible(), view.GetAxisLabelsVisible())
    view.SetBoxVisible(False)
    view.SetAxisLabelsVisible(False)
    try:
        return _render(scene, application_logic, view, path, size, azimuth, elevation, bounds, points)
    finally:
        view.SetBoxVisible(view_state[0])
        view.SetAxisLabelsVisible(view_state[1])
        for name, value in camera_state.items():
            getattr(camera_node, f"Set{name}")(value)


def _render(scene: Any, application_logic: Any, view: Any, path: str | os.PathLike[str], size: tuple[int, int],
            azimuth: float, elevation: float, bounds: Sequence[float] | None,
            points: Sequence[Sequence[float]] | None) -> Render:
    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(1)
    window.SetMultiSamples(0)  # with multisampling on, transparent surfaces vanish offscreen
    window.SetSize(*size)
    renderer = vtk.vtkRenderer()
    window.AddRenderer(renderer)
    interactor = vtk.vtkRenderWindowInteractor()
    interactor.SetRenderWindow(window)
    factory = slicer.vtkMRMLThreeDViewDisplayableManagerFactory.GetInstance()
    factory.SetMRMLApplicationLogic(application_logic)
    for name in THREE_D_DISPLAYABLE_MANAGERS:
        if not factory.IsDisplayableManagerRegistered(name):
            factory.RegisterDisplayableManager(name)
    group = factory.InstantiateDisplayableManagers(renderer)
    group.SetMRMLDisplayableNode(view)
    # The colour legend manager makes its actors when a legend node is *added*; in the application it exists
    # before any node, here it is created per render: announce the existing legend nodes to it.
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLColorLegendDisplayNode")):
        legend = scene.GetNthNodeByClass(index, "vtkMRMLColorLegendDisplayNode")
        scene.InvokeEvent(slicer.vtkMRMLScene.NodeAddedEvent, legend)
        legend.Modified()
    camera = renderer.GetActiveCamera()  # the view's camera node persists: start from Slicer's anterior view
    camera.SetFocalPoint(0.0, 0.0, 0.0)
    camera.SetPosition(0.0, 500.0, 0.0)
    camera.SetViewUp(0.0, 0.0, 1.0)
    if bounds is not None:
        renderer.ResetCamera(list(bounds))
    else:
        renderer.ResetCamera()
    renderer.GetActiveCamera().Azimuth(azimuth)
    renderer.GetActiveCamera().Elevation(elevation)
    renderer.ResetCameraClippingRange()
    window.Render()
    pixels = write_window_png(window, path)
    projected = None
    if points is not None:
        height = pixels.shape[0]
        projected = []
        for point in points:
            renderer.SetWorldPoint(*point, 1.0)
            renderer.WorldToDisplay()
            x, y, _ = renderer.GetDisplayPoint()
            projected.append((x, height - 1 - y))
        projected = np.asarray(projected)
    group.SetMRMLDisplayableNode(None)
    window.Finalize()
    return Render(pixels, projected)


def _add_view_node(scene: Any) -> Any:
    view = scene.AddNewNodeByClass("vtkMRMLViewNode")
    view.SetLayoutName("1")
    view.SetLayoutLabel("1")
    return view


def write_window_png(window: Any, path: str | os.PathLike[str]) -> np.ndarray:
    """Save what a rendered VTK window shows as a PNG (also a 3D view's window in the application);
    returns the RGB pixels, row 0 at the top."""
    grabber = vtk.vtkWindowToImageFilter()
    grabber.SetInput(window)
    grabber.ReadFrontBufferOff()
    grabber.Update()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    writer = vtk.vtkPNGWriter()
    writer.SetFileName(str(path))
    writer.SetInputConnection(grabber.GetOutputPort())
    writer.Write()
    image = grabber.GetOutput()
    width, height, _ = image.GetDimensions()
    return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)[::-1, :, :3].copy()


@dataclass
class SlicerEnvironment:
    scene: Any
    application_logic: Any
    modules: types.SimpleNamespace

    def logic(self, module_name: str) -> Any:
        return getattr(self.modules, module_name).logic()

    def render(self, path: str | os.PathLike[str], size: tuple[int, int] = (640, 480), azimuth: float = 30.0,
               elevation: float = 20.0, bounds: Sequence[float] | None = None,
               points: Sequence[Sequence[float]] | None = None) -> Render:
        return render_3d(self.scene, self.application_logic, path, size, azimuth, elevation, bounds, points)


def _core_logic(cls: type, scene: Any, application_logic: Any) -> Any:
    logic = cls()
    if hasattr(logic, "SetMRMLApplicationLogic"):
        logic.SetMRMLApplicationLogic(application_logic)
    logic.SetMRMLScene(scene)
    return logic


def _mirv_module_logics() -> dict[str, Any]:
    """The MIRV modules' Qt-free logics (this package; ``MIRV/`` is on sys.path as in a Slicer module path)."""
    logics: dict[str, Any] = {}
    try:
        from MIRVLogic import MIRVLogic
    except ImportError:
        MIRVLogic = None
    if MIRVLogic is not None:
        logics["mirv"] = MIRVLogic
    try:
        from MIRVLogic.cohort import MIRVCohortLogic
    except ImportError:
        MIRVCohortLogic = None
    if MIRVCohortLogic is not None:
        logics["mirvcohort"] = MIRVCohortLogic
    return logics


def make_slicer_environment() -> SlicerEnvironment:
    """A fresh scene wired as in the application; replaces ``slicer.mrmlScene`` and ``slicer.modules``."""
    scene = slicer.vtkMRMLScene()
    application_logic = slicer.vtkMRMLApplicationLogic()
    application_logic.SetMRMLScene(scene)
    colors = _core_logic(slicer.vtkSlicerColorLogic, scene, application_logic)
    application_logic.SetColorLogic(colors)
    application_logic.SetModuleLogic("Colors", colors)
    modules = types.SimpleNamespace(colors=_Module(colors))
    for name, module_name, cls in (
        ("volumes", "Volumes", slicer.vtkSlicerVolumesLogic),
        ("segmentations", "Segmentations", slicer.vtkSlicerSegmentationsModuleLogic),
        ("tables", "Tables", slicer.vtkSlicerTablesLogic),
        ("models", "Models", slicer.vtkSlicerModelsLogic),
    ):
        logic = _core_logic(cls, scene, application_logic)
        application_logic.SetModuleLogic(module_name, logic)
        setattr(modules, name, _Module(logic))
    slicer.mrmlScene = scene
    slicer.modules = modules
    for name, cls in _mirv_module_logics().items():
        setattr(modules, name, _Module(cls()))
    return SlicerEnvironment(scene, application_logic, modules)
