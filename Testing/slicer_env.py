"""A real headless 3D Slicer for tests: MRML, module logics and Slicer's own 3D rendering from PyPI's slicer-core.

slicer-core has no Qt and no application, so what the desktop app sets up at start-up is done here: a fresh
``vtkMRMLScene`` as ``slicer.mrmlScene``, the core module logics (volumes, segmentations, colors, tables,
models) and the MIRV module logics under ``slicer.modules.<name>.logic()``, and a minimal
``slicer.ScriptedLoadableModule`` (only when the real one is absent). ``render_3d`` draws the scene through
Slicer's 3D displayable managers into an offscreen EGL window and saves a PNG.
"""

from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install '.[slicer]')")
import vtk  # noqa: E402  (after slicer-core, which pins the VTK it was built with)
from vtk.util.numpy_support import vtk_to_numpy  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
THREE_D_DISPLAYABLE_MANAGERS = (
    "vtkMRMLCameraDisplayableManager",
    "vtkMRMLViewDisplayableManager",
    "vtkMRMLModelDisplayableManager",
    "vtkMRMLSegmentationsDisplayableManager3D",
    "vtkMRMLColorLegendDisplayableManager",
)


class _Module:
    """What ``slicer.modules.<name>`` is in the application, reduced to what logic code uses."""

    def __init__(self, logic: Any) -> None:
        self._logic = logic

    def logic(self) -> Any:
        return self._logic


class ScriptedLoadableModuleLogic:
    """Stand-in for the real base class (vtk-free in Slicer too): remembers the scene it works on."""

    def __init__(self, parent: Any = None) -> None:
        self.parent = parent

    def getParameterNode(self) -> Any:
        node = slicer.mrmlScene.GetSingletonNode(type(self).__name__, "vtkMRMLScriptedModuleNode")
        if node is None:
            node = slicer.vtkMRMLScriptedModuleNode()
            node.SetSingletonTag(type(self).__name__)
            node = slicer.mrmlScene.AddNode(node)
        return node


def _install_scripted_loadable_module_stand_in() -> None:
    if "slicer.ScriptedLoadableModule" in sys.modules or hasattr(slicer, "ScriptedLoadableModule"):
        return
    module = types.ModuleType("slicer.ScriptedLoadableModule")
    module.ScriptedLoadableModuleLogic = ScriptedLoadableModuleLogic
    sys.modules["slicer.ScriptedLoadableModule"] = module
    slicer.ScriptedLoadableModule = module


@dataclass
class SlicerEnvironment:
    scene: Any
    application_logic: Any
    modules: types.SimpleNamespace
    renders: list[Path] = field(default_factory=list)

    def logic(self, module_name: str) -> Any:
        return getattr(self.modules, module_name).logic()

    def render_3d(self, path: str | os.PathLike[str], size: tuple[int, int] = (640, 480),
                  azimuth: float = 30.0, elevation: float = 20.0) -> np.ndarray:
        """Render the scene's first 3D view (created if missing) offscreen; save a PNG; return RGB pixels."""
        view = self.scene.GetFirstNodeByClass("vtkMRMLViewNode") or self._add_view_node()
        window = vtk.vtkRenderWindow()
        window.SetOffScreenRendering(1)
        window.SetMultiSamples(0)  # with multisampling on, transparent surfaces vanish offscreen
        window.SetSize(*size)
        renderer = vtk.vtkRenderer()
        window.AddRenderer(renderer)
        interactor = vtk.vtkRenderWindowInteractor()
        interactor.SetRenderWindow(window)
        factory = slicer.vtkMRMLThreeDViewDisplayableManagerFactory.GetInstance()
        factory.SetMRMLApplicationLogic(self.application_logic)
        for name in THREE_D_DISPLAYABLE_MANAGERS:
            if not factory.IsDisplayableManagerRegistered(name):
                factory.RegisterDisplayableManager(name)
        group = factory.InstantiateDisplayableManagers(renderer)
        group.SetMRMLDisplayableNode(view)
        renderer.ResetCamera()
        renderer.GetActiveCamera().Azimuth(azimuth)
        renderer.GetActiveCamera().Elevation(elevation)
        renderer.ResetCameraClippingRange()
        window.Render()
        grabber = vtk.vtkWindowToImageFilter()
        grabber.SetInput(window)
        grabber.ReadFrontBufferOff()
        grabber.Update()
        writer = vtk.vtkPNGWriter()
        writer.SetFileName(str(path))
        writer.SetInputConnection(grabber.GetOutputPort())
        writer.Write()
        image = grabber.GetOutput()
        width, height, _ = image.GetDimensions()
        pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)[::-1, :, :3].copy()
        group.SetMRMLDisplayableNode(None)
        window.Finalize()
        self.renders.append(Path(path))
        return pixels

    def _add_view_node(self) -> Any:
        view = self.scene.AddNewNodeByClass("vtkMRMLViewNode")
        view.SetLayoutName("1")
        view.SetLayoutLabel("1")
        return view


def _core_logic(cls: type, scene: Any, application_logic: Any) -> Any:
    logic = cls()
    if hasattr(logic, "SetMRMLApplicationLogic"):
        logic.SetMRMLApplicationLogic(application_logic)
    logic.SetMRMLScene(scene)
    return logic


def _mirv_module_logics() -> dict[str, Any]:
    """The MIRV modules' Qt-free logics, importable from ``MIRV/`` as in a Slicer module path."""
    module_dir = str(REPO_ROOT / "MIRV")
    if module_dir not in sys.path:
        sys.path.insert(0, module_dir)
    logics: dict[str, Any] = {}
    try:
        from MIRVLogic import MIRVLogic  # type: ignore[attr-defined]
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
    _install_scripted_loadable_module_stand_in()
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
