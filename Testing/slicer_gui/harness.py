"""Install the stand-ins for one test and drive the module scripts: see the package docstring."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import slicer

from slicer_gui import (
    application,
    ctk_widgets,
    mrml_widgets,
    parameter_node_wrapper,
    qt_widgets,
    sample_data,
    scripted_module,
    user,
)

MODULE_DIR = Path(__file__).resolve().parent.parent.parent / "MIRV"
MODULE_SCRIPTS = ("MIRV", "MIRVCohort")


def _module(name: str, *sources: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for source in sources:
        for key, value in vars(source).items():
            if not key.startswith("_"):
                setattr(module, key, value)
    return module


def stand_in_modules() -> dict[str, types.ModuleType]:
    """The stand-in modules by import name (also what the interpreter matrix imports the module scripts with)."""
    wrapper = _module("slicer.parameterNodeWrapper", parameter_node_wrapper)
    return {
        "qt": _module("qt", qt_widgets),
        "ctk": _module("ctk", ctk_widgets),
        "slicer.i18n": scripted_module.i18n_module(),
        "slicer.parameterNodeWrapper": wrapper,
        "slicer.ScriptedLoadableModule": scripted_module.scripted_module(),
        "SampleData": sample_data.module(),
    }


class Gui:
    """The running stand-in application: load module scripts, make their widgets, let timers fire."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.user = user.current
        self.app: application.qSlicerApplication = slicer.app

    def module(self, name: str) -> types.ModuleType:
        """Import a module script and instantiate its module class, as Slicer's scripted module factory does."""
        script = importlib.import_module(name)
        parent = types.SimpleNamespace(path=str(MODULE_DIR / f"{name}.py"))
        getattr(script, name)(parent)
        script.moduleParent = parent
        return script

    def widget(self, name: str) -> Any:
        """The module's widget in an entered module panel, after ``setup``."""
        script = self.module(name)
        panel = qt_widgets.QWidget()
        panel.setLayout(qt_widgets.QVBoxLayout())
        panel.isEntered = True
        widget = getattr(script, f"{name}Widget")(panel)
        widget.setup()
        widget.enter()
        return widget

    def startup_completed(self) -> None:
        self.app.emit("startupCompleted()")

    @staticmethod
    def wait_for(timer: qt_widgets.QTimer, done: Callable[[], bool], timeout: float = 120.0) -> int:
        """Let ``timer`` fire (as the event loop would, every few tenths of a second) until ``done()``; returns how
        often it fired."""
        import time

        fired, start = 0, time.monotonic()
        while not done():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"not done after {timeout} s")
            time.sleep(0.05)
            fired += timer.fire()
        return fired


@contextmanager
def installed(environment: Any, testing: bool = False) -> Iterator[Gui]:
    """The stand-ins in place for one test (``testing``: the application runs with ``--testing``)."""
    user.reset().testing = testing
    modules = {**stand_in_modules(), "slicer.packaging": None}  # None: `import slicer.packaging` fails (< 5.12)
    attributes = {"app": application.qSlicerApplication(environment.application_logic), "selfTests": {},
                  **mrml_widgets.CLASSES}
    saved_modules = {name: sys.modules.get(name) for name in (*modules, *MODULE_SCRIPTS)}
    saved_attributes = {name: getattr(slicer, name) for name in attributes if hasattr(slicer, name)}
    sys.modules.update(modules)
    for name in MODULE_SCRIPTS:
        sys.modules.pop(name, None)
    for name, value in attributes.items():
        setattr(slicer, name, value)
    slicer.modules.segmenteditor = application.segment_editor_module()
    if str(MODULE_DIR) not in sys.path:
        sys.path.insert(0, str(MODULE_DIR))
    try:
        yield Gui(environment)
    finally:
        for name in MODULE_SCRIPTS:  # as Slicer unloading the modules: each widget's cleanup()
            slicer.app.moduleManager().emit("moduleAboutToBeUnloaded(QString)", name)
        mrml_widgets.detach_all()
        for name, module in saved_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        for name in attributes:
            if name in saved_attributes:
                setattr(slicer, name, saved_attributes[name])
            else:
                delattr(slicer, name)
