"""Stand-ins for Slicer's MRML widgets, working on the real scene of slicer-core.

``qMRMLNodeComboBox`` lists the scene's nodes of its ``nodeTypes`` (subclasses too unless ``showChildNodeTypes``
is off; nodes hidden from editors never), follows nodes being added and removed, and — as the real combo box —
selects the first node by itself when ``noneEnabled`` is off.
"""

from __future__ import annotations

from typing import Any

import slicer

from slicer_gui.qt_widgets import Qt, QWidget

_OBSERVING: list[qMRMLNodeComboBox] = []  # combo boxes observing a scene, detached when the stand-ins go


def detach_all() -> None:
    """Stop every combo box observing its scene (the test's scene outlives the widgets)."""
    while _OBSERVING:
        _OBSERVING.pop()._detach()


class qMRMLWidget(QWidget):  # noqa: N801 - Slicer's class name
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = None

    def setMRMLScene(self, scene: Any) -> None:
        self._scene = scene
        self.emit("mrmlSceneChanged(vtkMRMLScene*)", scene)

    def mrmlScene(self) -> Any:
        return self._scene


class qMRMLNodeComboBox(QWidget):  # noqa: N801
    PROPERTIES = frozenset({"nodeTypes", "showChildNodeTypes", "noneEnabled", "addEnabled", "removeEnabled",
                            "renameEnabled", "editEnabled", "showHidden", "selectNodeUponCreation", "currentNodeID"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.nodeTypes: list[str] = []
        self.showChildNodeTypes = True
        self.noneEnabled = False
        self.addEnabled = self.removeEnabled = self.renameEnabled = self.editEnabled = True
        self._scene = None
        self._observers: list[int] = []
        self._current = None

    def setMRMLScene(self, scene: Any) -> None:
        self._detach()
        self._scene = scene
        if scene is not None:
            self._observers = [scene.AddObserver(slicer.vtkMRMLScene.NodeAddedEvent, self._nodesChanged),
                               scene.AddObserver(slicer.vtkMRMLScene.NodeRemovedEvent, self._nodesChanged)]
            _OBSERVING.append(self)
        self._nodesChanged()

    def _detach(self) -> None:
        for tag in self._observers:
            self._scene.RemoveObserver(tag)
        self._observers = []
        if self in _OBSERVING:
            _OBSERVING.remove(self)

    def mrmlScene(self) -> Any:
        return self._scene

    def nodes(self) -> list:
        """The nodes the combo box lists, in scene order."""
        if self._scene is None:
            return []
        listed = []
        for index in range(self._scene.GetNumberOfNodes()):
            node = self._scene.GetNthNode(index)
            if node.GetHideFromEditors():
                continue
            if any(node.GetClassName() == t or (self.showChildNodeTypes and node.IsA(t)) for t in self.nodeTypes):
                listed.append(node)
        return listed

    def _nodesChanged(self, caller: Any = None, event: Any = None) -> None:
        listed = self.nodes()
        if self._current is not None and self._current not in listed:
            self.setCurrentNode(None)
        if self._current is None and not self.noneEnabled and listed:
            self.setCurrentNode(listed[0])

    def currentNode(self) -> Any:
        return self._current

    @property
    def currentNodeID(self) -> str:
        return self._current.GetID() if self._current is not None else ""

    def setCurrentNode(self, node: Any) -> None:
        if node is not None and node not in self.nodes():
            raise AssertionError(f"{self.objectName}: {node.GetName()} is not one of its {self.nodeTypes} nodes")
        if node is not self._current:
            self._current = node
            self.emit("currentNodeChanged(vtkMRMLNode*)", node)
            self.emit("currentNodeChanged(bool)", node is not None)
            self.emit("currentNodeIDChanged(QString)", self.currentNodeID)


class qMRMLCheckableNodeComboBox(qMRMLNodeComboBox):  # noqa: N801
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._checked: list = []

    def checkedNodes(self) -> list:
        listed = self.nodes()
        return [node for node in listed if node in self._checked]

    def setCheckState(self, node: Any, state: int) -> None:
        checked = state == Qt.Checked
        if checked != (node in self._checked):
            if checked:
                self._checked.append(node)
            else:
                self._checked.remove(node)
            self.emit("checkedNodesChanged()")


class qMRMLTableView(QWidget):  # noqa: N801
    PROPERTIES = frozenset({"transposed", "firstRowLocked", "firstColumnLocked"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = None
        self._table = None

    def setMRMLScene(self, scene: Any) -> None:
        self._scene = scene

    def setMRMLTableNode(self, node: Any) -> None:
        self._table = node

    def mrmlTableNode(self) -> Any:
        return self._table


CLASSES = {cls.__name__: cls for cls in (qMRMLWidget, qMRMLNodeComboBox, qMRMLCheckableNodeComboBox, qMRMLTableView)}
