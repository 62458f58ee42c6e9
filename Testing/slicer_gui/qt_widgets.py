"""A stand-in for PythonQt's ``qt`` module: the widgets the MIRV modules use, with Qt's behaviour where it matters.

Behaviour copied from Qt because module code depends on it: properties are attributes (PythonQt), setting a
property emits its notify signal only when the value changes, spin boxes clamp to their range, adding the first
item to a combo box selects it, a disabled button cannot be clicked, ``QTableWidget.clear`` keeps the row and
column counts. A slot receives as many signal arguments as it accepts (PythonQt). ``connect`` refuses signals the
class does not have (see `signals`). Dialogs answer from `user.current`.
"""

from __future__ import annotations

import inspect
import types
from pathlib import Path
from typing import Any, Callable

from slicer_gui import user
from slicer_gui.signals import class_signals, normalize


def _accepted_arguments(slot: Callable) -> int | None:
    """How many positional arguments a slot takes (None: any number)."""
    try:
        parameters = inspect.signature(slot).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


class QObject:
    """Signals by signature string (``connect("clicked(bool)", slot)``), children, dynamic properties."""

    PROPERTIES: frozenset[str] = frozenset({"objectName"})

    def __init__(self, parent: QObject | None = None) -> None:
        self._parent: QObject | None = None
        self._children: list[QObject] = []
        self._connections: list[tuple[str, Callable]] = []
        self._dynamic: dict[str, Any] = {}
        self.objectName = ""
        if parent is not None:
            self.setParent(parent)

    @classmethod
    def qt_class(cls) -> str:
        """The Qt class this stand-in stands for (its own name, or the nearest one the signal table knows)."""
        return cls.__name__

    @classmethod
    def known_properties(cls) -> frozenset[str]:
        return frozenset().union(*(getattr(k, "PROPERTIES", frozenset()) for k in cls.__mro__))

    @property
    def name(self) -> str:  # PythonQt's alias of objectName
        return self.objectName

    def setParent(self, parent: QObject | None) -> None:
        if self._parent is not None:
            self._parent._children.remove(self)
        self._parent = parent
        if parent is not None:
            parent._children.append(self)

    def parent(self) -> QObject | None:
        return self._parent

    def children(self) -> list[QObject]:
        return list(self._children)

    def property(self, name: str) -> Any:
        if name in self._dynamic:
            return self._dynamic[name]
        return getattr(self, name) if name in self.known_properties() else None

    def setProperty(self, name: str, value: Any) -> None:
        if name in self.known_properties():
            setattr(self, name, value)
        else:
            self._dynamic[name] = value

    def isWidgetType(self) -> bool:
        return False

    def deleteLater(self) -> None:
        pass

    # ----- signals -----
    def connect(self, signal: str, slot: Callable) -> bool:
        signature = normalize(signal)
        if signature not in class_signals(self.qt_class()):
            raise AssertionError(f"{self.qt_class()} has no signal {signature} (connected by {slot!r})")
        self._connections.append((signature, slot))
        return True

    def disconnect(self, signal: str, slot: Callable | None = None) -> bool:
        signature = normalize(signal)
        before = len(self._connections)
        self._connections = [(s, f) for s, f in self._connections if not (s == signature and (slot is None or f == slot))]
        return len(self._connections) < before

    def connections(self) -> list[tuple[str, Callable]]:
        return list(self._connections)

    def emit(self, signal: str, *arguments: Any) -> None:
        signature = normalize(signal)
        assert signature in class_signals(self.qt_class()), f"{self.qt_class()} cannot emit {signature}"
        for connected, slot in list(self._connections):
            if connected == signature:
                count = _accepted_arguments(slot)
                slot(*(arguments if count is None else arguments[:count]))


class QWidget(QObject):
    PROPERTIES = frozenset({"enabled", "visible", "toolTip", "geometry", "minimumSize", "maximumSize", "width",
                            "height", "windowTitle", "sizePolicy", "styleSheet"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.enabled = True
        self.visible = True
        self.toolTip = ""
        self.windowTitle = ""
        self.geometry = (0, 0, 400, 300)
        self.minimumSize = (0, 0)
        self._layout: QLayout | None = None

    @property
    def width(self) -> int:
        return self.geometry[2]

    def isWidgetType(self) -> bool:
        return True

    def layout(self) -> QLayout | None:
        return self._layout

    def setLayout(self, layout: QLayout) -> None:
        self._layout = layout
        layout.setParent(self)


class QLayout(QObject):
    """Widgets added to a layout become children of the widget that owns it (as in Qt)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(None)
        if parent is not None:
            parent.setLayout(self)

    def owner(self) -> QWidget | None:
        node = self.parent()
        while node is not None and not node.isWidgetType():
            node = node.parent()
        return node

    def addWidget(self, widget: QWidget, *_: Any) -> None:
        widget.setParent(self.owner())

    def addLayout(self, layout: QLayout, *_: Any) -> None:
        layout.setParent(self)


class QVBoxLayout(QLayout):
    pass


class QHBoxLayout(QLayout):
    pass


class QFormLayout(QLayout):
    pass


class QAbstractButton(QWidget):
    PROPERTIES = frozenset({"text", "checkable", "checked", "icon"})

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = text
        self.checkable = False
        self._checked = False

    @property
    def checked(self) -> bool:
        return self._checked

    @checked.setter
    def checked(self, value: bool) -> None:
        if bool(value) != self._checked:
            self._checked = bool(value)
            self._checked_changed()

    def _checked_changed(self) -> None:
        self.emit("toggled(bool)", self._checked)

    def click(self) -> None:
        """The user clicks: nothing happens on a disabled button (QAbstractButton::click)."""
        if not self.enabled:
            raise AssertionError(f"{self.objectName or self.qt_class()} is disabled: the user cannot click it")
        if self.checkable:
            self.checked = not self.checked
        self.emit("clicked(bool)", self.checked)
        self.emit("clicked()")


class QPushButton(QAbstractButton):
    pass


class QCheckBox(QAbstractButton):
    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.checkable = True

    def _checked_changed(self) -> None:
        super()._checked_changed()
        self.emit("stateChanged(int)", Qt.Checked if self._checked else Qt.Unchecked)


class QLabel(QWidget):
    PROPERTIES = frozenset({"text", "wordWrap", "alignment", "textInteractionFlags", "pixmap", "placeholderText"})

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = text
        self.wordWrap = False
        self._pixmap: QPixmap | None = None

    def setPixmap(self, pixmap: QPixmap) -> None:
        self._pixmap = pixmap

    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def clear(self) -> None:
        self.text = ""
        self._pixmap = None


class QComboBox(QWidget):
    PROPERTIES = frozenset({"currentIndex", "currentText", "currentData", "count", "editable"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: list[tuple[str, Any]] = []
        self._index = -1
        self._edit_text = ""
        self.editable = False

    def _select(self, index: int) -> None:
        if index != self._index:
            self._index = index
            self._edit_text = self.itemText(index) if index >= 0 else ""
            self.emit("currentIndexChanged(int)", index)
            self.emit("currentTextChanged(QString)", self._edit_text)

    @property
    def count(self) -> int:
        return len(self._items)

    @property
    def currentIndex(self) -> int:
        return self._index

    @currentIndex.setter
    def currentIndex(self, index: int) -> None:
        self._select(index if 0 <= index < len(self._items) else -1)

    @property
    def currentText(self) -> str:
        return self._edit_text

    @currentText.setter
    def currentText(self, text: str) -> None:
        self.setCurrentText(text)

    def setCurrentText(self, text: str) -> None:
        """QComboBox::setCurrentText: select a matching item; an editable box otherwise shows the text."""
        index = self.findText(text)
        if index >= 0:
            self._select(index)
        elif self.editable and text != self._edit_text:
            self._edit_text = text
            self.emit("editTextChanged(QString)", text)
            self.emit("currentTextChanged(QString)", text)

    @property
    def currentData(self) -> Any:
        return self._items[self._index][1] if self._index >= 0 else None

    def addItem(self, text: str, userData: Any = None) -> None:
        self._items.append((str(text), userData))
        if self._index < 0:
            self._select(0)

    def addItems(self, texts: list[str]) -> None:
        for text in texts:
            self.addItem(text)

    def itemText(self, index: int) -> str:
        return self._items[index][0] if 0 <= index < len(self._items) else ""

    def itemData(self, index: int) -> Any:
        return self._items[index][1] if 0 <= index < len(self._items) else None

    def findText(self, text: str) -> int:
        return next((i for i, (item, _) in enumerate(self._items) if item == text), -1)

    def clear(self) -> None:
        self._items = []
        self._select(-1)


class QAbstractSpinBox(QWidget):
    PROPERTIES = frozenset({"value", "minimum", "maximum", "singleStep"})
    VALUE_SIGNAL = ""

    def __init__(self, parent: QWidget | None = None, minimum: Any = 0, maximum: Any = 99) -> None:
        super().__init__(parent)
        self._minimum, self._maximum, self.singleStep = minimum, maximum, 1
        self._value = minimum

    def _convert(self, value: Any) -> Any:
        raise NotImplementedError

    @property
    def value(self) -> Any:
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        value = self._convert(min(max(value, self._minimum), self._maximum))  # Qt clamps to the range
        if value != self._value:
            self._value = value
            self.emit(self.VALUE_SIGNAL, value)

    @property
    def minimum(self) -> Any:
        return self._minimum

    @minimum.setter
    def minimum(self, minimum: Any) -> None:
        self._minimum = minimum
        self._maximum = max(self._maximum, minimum)
        self.value = self._value

    @property
    def maximum(self) -> Any:
        return self._maximum

    @maximum.setter
    def maximum(self, maximum: Any) -> None:
        self._maximum = maximum
        self._minimum = min(self._minimum, maximum)
        self.value = self._value

    def setMinimum(self, minimum: Any) -> None:
        self.minimum = minimum

    def setMaximum(self, maximum: Any) -> None:
        self.maximum = maximum

    def setRange(self, minimum: Any, maximum: Any) -> None:
        self._minimum, self._maximum = minimum, maximum
        self.value = self._value


class QSpinBox(QAbstractSpinBox):
    VALUE_SIGNAL = "valueChanged(int)"

    def _convert(self, value: Any) -> int:
        return int(value)


class QDoubleSpinBox(QAbstractSpinBox):
    PROPERTIES = frozenset({"decimals"})
    VALUE_SIGNAL = "valueChanged(double)"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, 0.0, 99.99)
        self.decimals = 2

    def _convert(self, value: Any) -> float:
        return round(float(value), self.decimals)


class QLineEdit(QWidget):
    PROPERTIES = frozenset({"text", "placeholderText", "readOnly"})

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = text
        self.placeholderText = ""

    @property
    def text(self) -> str:
        return self._text

    @text.setter
    def text(self, value: str) -> None:
        if value != self._text:
            self._text = value
            self.emit("textChanged(QString)", value)


class QProgressBar(QWidget):
    PROPERTIES = frozenset({"value", "minimum", "maximum"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.minimum, self.maximum, self.value = 0, 100, 0


class QHeaderView(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.stretchLastSection = False

    def setStretchLastSection(self, stretch: bool) -> None:
        self.stretchLastSection = stretch


class QTableWidgetItem:
    def __init__(self, text: str = "") -> None:
        self._text = str(text)
        self._background: QBrush | None = None
        self._foreground: QBrush | None = None
        self._tool_tip = ""
        self._flags = Qt.ItemIsSelectable | Qt.ItemIsEditable | Qt.ItemIsEnabled

    def text(self) -> str:
        return self._text

    def background(self) -> QBrush | None:
        return self._background

    def setBackground(self, brush: QBrush) -> None:
        self._background = brush

    def foreground(self) -> QBrush | None:
        return self._foreground

    def setForeground(self, brush: QBrush) -> None:
        self._foreground = brush

    def toolTip(self) -> str:
        return self._tool_tip

    def setToolTip(self, text: str) -> None:
        self._tool_tip = text

    def flags(self) -> int:
        return self._flags

    def setFlags(self, flags: int) -> None:
        self._flags = flags


class QAbstractItemView(QWidget):
    NoEditTriggers, SingleSelection, MultiSelection, ExtendedSelection = 0, 1, 2, 3
    PROPERTIES = frozenset({"selectionMode", "editTriggers", "alternatingRowColors"})


class QTableWidget(QAbstractItemView):
    PROPERTIES = frozenset({"rowCount", "columnCount"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows = self._columns = 0
        self._items: dict[tuple[int, int], QTableWidgetItem] = {}
        self._cell_widgets: dict[tuple[int, int], QWidget] = {}
        self._headers: dict[str, list[str]] = {"horizontal": [], "vertical": []}
        self._header_view = QHeaderView()

    @property
    def rowCount(self) -> int:
        return self._rows

    @property
    def columnCount(self) -> int:
        return self._columns

    @columnCount.setter
    def columnCount(self, columns: int) -> None:
        self.setColumnCount(columns)

    def setRowCount(self, rows: int) -> None:
        self._rows = rows
        self._items = {k: v for k, v in self._items.items() if k[0] < rows}
        self._cell_widgets = {k: v for k, v in self._cell_widgets.items() if k[0] < rows}

    def setColumnCount(self, columns: int) -> None:
        self._columns = columns
        self._items = {k: v for k, v in self._items.items() if k[1] < columns}

    def _check(self, row: int, column: int) -> None:
        if not (0 <= row < self._rows and 0 <= column < self._columns):
            raise AssertionError(f"cell ({row}, {column}) outside the {self._rows}×{self._columns} table: Qt ignores it")

    def setItem(self, row: int, column: int, item: QTableWidgetItem) -> None:
        self._check(row, column)
        self._items[row, column] = item

    def item(self, row: int, column: int) -> QTableWidgetItem | None:
        return self._items.get((row, column))

    def setCellWidget(self, row: int, column: int, widget: QWidget) -> None:
        self._check(row, column)
        widget.setParent(self)
        self._cell_widgets[row, column] = widget

    def cellWidget(self, row: int, column: int) -> QWidget | None:
        return self._cell_widgets.get((row, column))

    def setHorizontalHeaderLabels(self, labels: list[str]) -> None:
        self._headers["horizontal"] = list(labels)

    def setVerticalHeaderLabels(self, labels: list[str]) -> None:
        self._headers["vertical"] = list(labels)

    def headerLabels(self, orientation: str) -> list[str]:
        """Test helper: the header texts (``"horizontal"`` or ``"vertical"``)."""
        return list(self._headers[orientation])

    def horizontalHeader(self) -> QHeaderView:
        return self._header_view

    def clear(self) -> None:
        """Remove every item and header text; the row and column counts stay (QTableWidget::clear)."""
        self._items = {}
        self._headers = {"horizontal": [], "vertical": []}

    def clickCell(self, row: int, column: int) -> None:
        """Test helper: the user clicks a cell."""
        self._check(row, column)
        self.emit("cellClicked(int,int)", row, column)


class QListWidgetItem:
    def __init__(self, text: str = "") -> None:
        self._text = text
        self._tool_tip = ""
        self._selected = False

    def text(self) -> str:
        return self._text

    def toolTip(self) -> str:
        return self._tool_tip

    def setToolTip(self, text: str) -> None:
        self._tool_tip = text

    def isSelected(self) -> bool:
        return self._selected

    def setSelected(self, selected: bool) -> None:
        self._selected = bool(selected)


class QListWidget(QAbstractItemView):
    PROPERTIES = frozenset({"count"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._list: list[QListWidgetItem] = []

    @property
    def count(self) -> int:
        return len(self._list)

    def addItem(self, item: QListWidgetItem | str) -> None:
        self._list.append(item if isinstance(item, QListWidgetItem) else QListWidgetItem(item))

    def item(self, row: int) -> QListWidgetItem | None:
        return self._list[row] if 0 <= row < len(self._list) else None

    def selectedItems(self) -> list[QListWidgetItem]:
        return [item for item in self._list if item.isSelected()]

    def clear(self) -> None:
        self._list = []


class QTabWidget(QWidget):
    PROPERTIES = frozenset({"currentIndex", "count"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pages: list[tuple[QWidget, str]] = []
        self._index = -1

    def addTab(self, page: QWidget, title: str) -> int:
        page.setParent(self)
        self._pages.append((page, title))
        if self._index < 0:
            self.currentIndex = 0
        return len(self._pages) - 1

    @property
    def count(self) -> int:
        return len(self._pages)

    @property
    def currentIndex(self) -> int:
        return self._index

    @currentIndex.setter
    def currentIndex(self, index: int) -> None:
        if index != self._index and (0 <= index < len(self._pages) or index == -1):
            self._index = index
            self.emit("currentChanged(int)", index)

    def currentWidget(self) -> QWidget | None:
        return self._pages[self._index][0] if self._index >= 0 else None

    def widget(self, index: int) -> QWidget | None:
        return self._pages[index][0] if 0 <= index < len(self._pages) else None


class QTimer(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._interval = 0
        self._active = False

    def setInterval(self, msec: int) -> None:
        self._interval = msec



    def start(self) -> None:
        self._active = True

    def stop(self) -> None:
        self._active = False

    def isActive(self) -> bool:
        return self._active

    def fire(self) -> bool:
        """Test helper: the event loop reaches this timer; returns whether it was active."""
        if self._active:
            self.emit("timeout()")
        return self._active


class QColor:
    def __init__(self, red: int = 0, green: int = 0, blue: int = 0, alpha: int = 255) -> None:
        self._rgba = (int(red), int(green), int(blue), int(alpha))

    def getRgb(self) -> tuple[int, int, int, int]:
        return self._rgba


class QBrush:
    def __init__(self, color: QColor) -> None:
        self._color = color

    def color(self) -> QColor:
        return self._color


class QIcon:
    def __init__(self, path: str = "") -> None:
        self.path = path

    def isNull(self) -> bool:
        return not Path(self.path).is_file()


class QPixmap:
    def __init__(self, path: str = "") -> None:
        self.path = path

    def isNull(self) -> bool:
        return not Path(self.path).is_file()

    def scaledToWidth(self, width: int, mode: int = 0) -> QPixmap:
        return QPixmap(self.path)


class QUrl:
    def __init__(self, url: str = "") -> None:
        self._url = url

    @staticmethod
    def fromLocalFile(path: str) -> QUrl:
        return QUrl(Path(path).as_uri())

    def toString(self) -> str:
        return self._url


class QDesktopServices:
    @staticmethod
    def openUrl(url: QUrl) -> bool:
        user.current.opened_urls.append(url.toString())
        return True


class QFileDialog:
    """Static dialogs answered from the queue of the same name (``user.current.answer("getSaveFileName", path)``)."""

    @staticmethod
    def getSaveFileName(parent: Any = None, caption: str = "", directory: str = "", filter: str = "") -> str:
        return str(user.current.next_answer("getSaveFileName", caption))

    @staticmethod
    def getOpenFileNames(parent: Any = None, caption: str = "", directory: str = "", filter: str = "") -> list[str]:
        return [str(p) for p in user.current.next_answer("getOpenFileNames", caption)]

    @staticmethod
    def getExistingDirectory(parent: Any = None, caption: str = "", directory: str = "") -> str:
        return str(user.current.next_answer("getExistingDirectory", caption))


class QCursor:
    def __init__(self, shape: int) -> None:
        self._shape = shape

    def shape(self) -> int:
        return self._shape


class QApplication(QObject):
    @staticmethod
    def setOverrideCursor(cursor: QCursor | int) -> None:
        user.current.override_cursors.append(cursor if isinstance(cursor, QCursor) else QCursor(cursor))

    @staticmethod
    def restoreOverrideCursor() -> None:
        if user.current.override_cursors:
            user.current.override_cursors.pop()

    @staticmethod
    def overrideCursor() -> QCursor | None:
        return user.current.override_cursors[-1] if user.current.override_cursors else None


class QMessageBox(QWidget):
    NoButton, Ok, Cancel, Yes, No = 0x0, 0x400, 0x400000, 0x4000, 0x10000
    NoIcon, Information, Warning, Critical, Question = 0, 1, 2, 3, 4


class QFile:
    ReadOnly = 1

    def __init__(self, path: str) -> None:
        self.path = str(path)

    def exists(self) -> bool:
        return Path(self.path).is_file()

    def open(self, mode: int) -> bool:
        return self.exists()


class QUiLoader:
    def load(self, file: QFile) -> QWidget:
        from slicer_gui.ui_loader import load_ui

        return load_ui(Path(file.path))


Qt = types.SimpleNamespace(Unchecked=0, Checked=2, ItemIsSelectable=1, ItemIsEditable=2, ItemIsEnabled=32,
                           WaitCursor=3, SmoothTransformation=1)

CLASSES = {cls.__name__: cls for cls in (
    QWidget, QPushButton, QCheckBox, QLabel, QComboBox, QSpinBox, QDoubleSpinBox, QLineEdit, QProgressBar,
    QTableWidget, QListWidget, QTabWidget, QVBoxLayout, QHBoxLayout, QFormLayout,
)}
