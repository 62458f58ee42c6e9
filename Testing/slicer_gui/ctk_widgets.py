"""A stand-in for the ``ctk`` module: the CTK widgets the MIRV modules and ``slicer.util`` use."""

from __future__ import annotations

from typing import Any

from slicer_gui import user
from slicer_gui.qt_widgets import QAbstractButton, QMessageBox, QWidget


class ctkCollapsibleButton(QAbstractButton):  # noqa: N801 - CTK's class name
    PROPERTIES = frozenset({"collapsed", "flat"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", parent)
        self.collapsed = False


class ctkPathLineEdit(QWidget):  # noqa: N801
    """``currentPath`` emits currentPathChanged(QString); ``addCurrentPathToHistory`` keeps a history."""

    PROPERTIES = frozenset({"currentPath", "filters", "nameFilters", "settingKey", "label"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._path = ""
        self.filters = ""
        self.nameFilters: list[str] = []
        self.history: list[str] = []

    @property
    def currentPath(self) -> str:
        return self._path

    @currentPath.setter
    def currentPath(self, path: str) -> None:
        if path != self._path:
            self._path = str(path)
            self.emit("currentPathChanged(QString)", self._path)

    def addCurrentPathToHistory(self) -> None:
        if self._path and self._path not in self.history:
            self.history.insert(0, self._path)


class ctkMessageBox(QMessageBox):  # noqa: N801
    """What ``slicer.util.messageBox`` shows: recorded, answered from the ``messageBox`` queue (OK by default for a
    box that has nothing but OK)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = ""
        self.icon = QMessageBox.NoIcon
        self.standardButtons = QMessageBox.Ok
        self.detailedText = ""
        self.dontShowAgainSettingsKey = ""

    def exec_(self) -> Any:
        user.current.message_boxes.append(user.MessageBox(self.text, self.windowTitle.strip(), self.icon,
                                                          self.standardButtons, self.detailedText))
        if self.standardButtons == QMessageBox.Ok:
            return QMessageBox.Ok
        return user.current.next_answer("messageBox", self.text)

    exec = exec_  # Qt 6 builds of PythonQt name it exec


CLASSES = {cls.__name__: cls for cls in (ctkCollapsibleButton, ctkPathLineEdit)}
