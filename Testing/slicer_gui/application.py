"""A stand-in for ``slicer.app`` (qSlicerApplication) and the few application objects the MIRV modules reach:
the main window (module selector), the layout manager (its first 3D view renders offscreen), the module manager
and the Segment Editor's editor widget. The application logic is slicer-core's real one."""

from __future__ import annotations

import types
from typing import Any

import vtk

from slicer_gui import user
from slicer_gui.qt_widgets import QApplication, QObject, QWidget


class qSlicerApplication(QObject):  # noqa: N801 - Slicer's class name
    applicationName = "3D Slicer"

    def __init__(self, application_logic: Any) -> None:
        super().__init__()
        self._application_logic = application_logic
        self._main_window = qSlicerMainWindow()
        self._layout_manager = qSlicerLayoutManager()
        self._module_manager = qSlicerModuleManager()

    def testingEnabled(self) -> bool:
        return user.current.testing

    def processEvents(self) -> None:
        pass

    def topLevelWidgets(self) -> list[QWidget]:
        return [self._main_window]

    def applicationLogic(self) -> Any:
        return self._application_logic

    def layoutManager(self) -> qSlicerLayoutManager:
        return self._layout_manager

    def moduleManager(self) -> qSlicerModuleManager:
        return self._module_manager

    setOverrideCursor = staticmethod(QApplication.setOverrideCursor)
    restoreOverrideCursor = staticmethod(QApplication.restoreOverrideCursor)


class qSlicerModuleManager(QObject):  # noqa: N801
    pass


class qSlicerMainWindow(QWidget):  # noqa: N801
    def __init__(self) -> None:
        super().__init__()
        self.objectName = "qSlicerMainWindow"
        self._selector = types.SimpleNamespace(selectModule=user_selects_module)

    def moduleSelector(self) -> Any:
        return self._selector


def user_selects_module(name: str) -> None:
    user.current.selected_modules.append(name)


class qMRMLThreeDView:  # noqa: N801
    """A 3D view whose render window is a real offscreen VTK window."""

    def __init__(self) -> None:
        self._window = vtk.vtkRenderWindow()
        self._window.SetOffScreenRendering(1)
        self._window.SetSize(320, 240)
        renderer = vtk.vtkRenderer()
        renderer.SetBackground(0.3, 0.3, 0.45)
        self._window.AddRenderer(renderer)

    def forceRender(self) -> None:
        self._window.Render()

    def renderWindow(self) -> Any:
        return self._window


class qSlicerLayoutManager:  # noqa: N801
    def __init__(self) -> None:
        self._view: qMRMLThreeDView | None = None

    def threeDWidget(self, index: int) -> Any:
        if index != 0:
            return None
        self._view = self._view or qMRMLThreeDView()
        return types.SimpleNamespace(threeDView=lambda: self._view)


class SegmentEditorWidget:
    """``slicer.modules.segmenteditor.widgetRepresentation().self().editor`` (qMRMLSegmentEditorWidget)."""

    def __init__(self) -> None:
        self.segmentationNode = self.sourceVolumeNode = None

    def setSegmentationNode(self, node: Any) -> None:
        self.segmentationNode = node

    def setSourceVolumeNode(self, node: Any) -> None:
        self.sourceVolumeNode = node


def segment_editor_module() -> Any:
    editor = SegmentEditorWidget()
    representation = types.SimpleNamespace(self=lambda: types.SimpleNamespace(editor=editor))
    return types.SimpleNamespace(widgetRepresentation=lambda: representation, editor=editor)
