"""The Qt signals of every widget class the MIRV modules use, from the headers Slicer builds against.

A connection to a signal that is not here would be silently dead in Slicer (PythonQt only prints a warning), so
the stand-in widgets refuse it. Only signals present in Qt 5.15 *and* Qt 6.8 are listed (Slicer 5.8/5.10 use
Qt 5.15; 5.12 and main build with either). Sources:

- Qt: the "Signals" sections of QObject, QWidget, QAbstractButton, QCheckBox, QComboBox, QAbstractSpinBox,
  QSpinBox, QDoubleSpinBox, QLineEdit, QLabel, QProgressBar, QAbstractItemView, QTableWidget, QListWidget,
  QTabWidget, QTimer (Qt 5.15 and 6.8 reference documentation).
- CTK (commit 82cae578 used by Slicer 5.8, 5056664a used by 5.12): Libs/Widgets/ctkCollapsibleButton.h,
  ctkPathLineEdit.h.
- Slicer (branches 5.8, 5.10, 5.12, main): Libs/MRML/Widgets/qMRMLWidget.h, qMRMLNodeComboBox.h,
  qMRMLCheckableNodeComboBox.h, qMRMLTableView.h; Base/QTGUI/qSlicerApplication.h;
  Base/QTCore/qSlicerModuleManager.h.
"""

from __future__ import annotations

BASES = {  # class → base class (the inheritance chain that carries signals)
    "QWidget": "QObject",
    "QAbstractButton": "QWidget",
    "QPushButton": "QAbstractButton",
    "QCheckBox": "QAbstractButton",
    "QComboBox": "QWidget",
    "QAbstractSpinBox": "QWidget",
    "QSpinBox": "QAbstractSpinBox",
    "QDoubleSpinBox": "QAbstractSpinBox",
    "QLineEdit": "QWidget",
    "QLabel": "QWidget",
    "QProgressBar": "QWidget",
    "QAbstractItemView": "QWidget",
    "QTableWidget": "QAbstractItemView",
    "QListWidget": "QAbstractItemView",
    "QTabWidget": "QWidget",
    "QTimer": "QObject",
    "ctkCollapsibleButton": "QAbstractButton",
    "ctkPathLineEdit": "QWidget",
    "qMRMLWidget": "QWidget",
    "qMRMLNodeComboBox": "QWidget",
    "qMRMLCheckableNodeComboBox": "qMRMLNodeComboBox",
    "qMRMLTableView": "QAbstractItemView",
    "qSlicerApplication": "QObject",
    "qSlicerModuleManager": "QObject",
}

SIGNALS = {
    "QObject": {"destroyed()", "destroyed(QObject*)", "objectNameChanged(QString)"},
    "QWidget": {"customContextMenuRequested(QPoint)", "windowIconChanged(QIcon)", "windowTitleChanged(QString)"},
    "QAbstractButton": {"clicked()", "clicked(bool)", "pressed()", "released()", "toggled(bool)"},
    "QCheckBox": {"stateChanged(int)"},
    "QComboBox": {"activated(int)", "currentIndexChanged(int)", "currentTextChanged(QString)",
                  "editTextChanged(QString)", "highlighted(int)", "textActivated(QString)",
                  "textHighlighted(QString)"},
    "QAbstractSpinBox": {"editingFinished()"},
    "QSpinBox": {"valueChanged(int)", "textChanged(QString)"},
    "QDoubleSpinBox": {"valueChanged(double)", "textChanged(QString)"},
    "QLineEdit": {"cursorPositionChanged(int,int)", "editingFinished()", "inputRejected()", "returnPressed()",
                  "selectionChanged()", "textChanged(QString)", "textEdited(QString)"},
    "QLabel": {"linkActivated(QString)", "linkHovered(QString)"},
    "QProgressBar": {"valueChanged(int)"},
    "QAbstractItemView": {"activated(QModelIndex)", "clicked(QModelIndex)", "doubleClicked(QModelIndex)",
                          "entered(QModelIndex)", "iconSizeChanged(QSize)", "pressed(QModelIndex)",
                          "viewportEntered()"},
    "QTableWidget": {"cellActivated(int,int)", "cellChanged(int,int)", "cellClicked(int,int)",
                     "cellDoubleClicked(int,int)", "cellEntered(int,int)", "cellPressed(int,int)",
                     "currentCellChanged(int,int,int,int)", "itemSelectionChanged()"},
    "QListWidget": {"currentRowChanged(int)", "currentTextChanged(QString)", "itemSelectionChanged()"},
    "QTabWidget": {"currentChanged(int)", "tabBarClicked(int)", "tabBarDoubleClicked(int)", "tabCloseRequested(int)"},
    "QTimer": {"timeout()"},
    "ctkCollapsibleButton": {"contentsCollapsed(bool)"},
    "ctkPathLineEdit": {"currentPathChanged(QString)", "validInputChanged(bool)"},
    "qMRMLWidget": {"mrmlSceneChanged(vtkMRMLScene*)"},
    "qMRMLNodeComboBox": {"currentNodeChanged(vtkMRMLNode*)", "currentNodeChanged(bool)",
                          "currentNodeIDChanged(QString)", "nodeActivated(vtkMRMLNode*)", "nodeAdded(vtkMRMLNode*)",
                          "nodeAddedByUser(vtkMRMLNode*)", "nodeAboutToBeRemoved(vtkMRMLNode*)",
                          "currentNodeRenamed(QString)", "nodeAboutToBeEdited(vtkMRMLNode*)"},
    "qMRMLCheckableNodeComboBox": {"checkedNodesChanged()"},
    "qMRMLTableView": {"selectionChanged()"},
    "qSlicerApplication": {"startupCompleted()"},
    "qSlicerModuleManager": {"moduleLoaded(QString)", "moduleAboutToBeUnloaded(QString)"},
}


def normalize(signature: str) -> str:
    """Qt's normalized form: no spaces, no ``const``, no references (``clicked( bool )`` → ``clicked(bool)``)."""
    return signature.replace("const ", "").replace("&", "").replace(" ", "")


def class_signals(class_name: str) -> set[str]:
    """Every signal of a class, inherited ones included; an unknown class has none."""
    signals: set[str] = set()
    name: str | None = class_name
    while name is not None:
        signals |= SIGNALS.get(name, set())
        name = BASES.get(name)
    return signals
