"""Stand-ins for ``slicer.ScriptedLoadableModule`` and ``slicer.i18n``, following Slicer's own code
(Base/Python/slicer/ScriptedLoadableModule.py and i18n.py, 5.8 → main) where the MIRV modules depend on it:

- a module registers ``runTest`` in ``slicer.selfTests``; ``runTest`` instantiates ``<Module>Test`` and calls its
  ``runTest`` directly, outside unittest — so a SkipTest raised there is an exception (what "Reload and Test"
  then reports as a failure, inside ``tryWithErrorDisplay``);
- the widget takes ``layout`` from its parent and runs ``setup`` when it is shown;
- the logic's parameter node is the scene's singleton ``vtkMRMLScriptedModuleNode`` tagged with the module name
  (the class name without "Logic"), with the ``ModuleName`` attribute.
"""

from __future__ import annotations

import importlib
import logging
import os
import types
import unittest
from typing import Any

import slicer

from slicer_gui import qt_widgets


class ScriptedLoadableModule:
    def __init__(self, parent: Any) -> None:
        self.parent = parent
        self.moduleName = self.__class__.__name__
        parent.title = ""
        parent.categories = []
        parent.dependencies = []
        parent.contributors = []
        parent.helpText = ""
        parent.acknowledgementText = ""
        icon = os.path.join(os.path.dirname(parent.path), "Resources/Icons", self.moduleName + ".png")
        if os.path.isfile(icon):
            parent.icon = qt_widgets.QIcon(icon)
        if not hasattr(slicer, "selfTests"):
            slicer.selfTests = {}
        slicer.selfTests[self.moduleName] = self.runTest

    def runTest(self, msec: int = 100, **kwargs: Any) -> None:
        module = importlib.import_module(self.__module__)
        testCase = getattr(module, self.moduleName + "Test")()
        testCase.messageDelay = msec
        testCase.runTest(**kwargs)


class ScriptedLoadableModuleWidget:
    def __init__(self, parent: Any = None) -> None:
        self.moduleName = self.__class__.__name__.removesuffix("Widget")
        self.developerMode = False
        self.parent = parent
        self.layout = parent.layout()
        slicer.app.moduleManager().connect("moduleAboutToBeUnloaded(QString)", self._onModuleAboutToBeUnloaded)

    def setup(self) -> None:
        pass  # the real one adds the developer section, only in developer mode

    def cleanup(self) -> None:
        pass

    def _onModuleAboutToBeUnloaded(self, moduleName: str) -> None:
        if moduleName == self.moduleName:
            self.cleanup()

    def onReloadAndTest(self, **kwargs: Any) -> None:
        """The developer section's button (without the reload): the self-test inside tryWithErrorDisplay."""
        with slicer.util.tryWithErrorDisplay("Reload and Test failed."):
            slicer.selfTests[self.moduleName](msec=0, **kwargs)


class ScriptedLoadableModuleLogic:
    def __init__(self, parent: Any = None) -> None:
        self.moduleName = self.__class__.__name__.removesuffix("Logic")
        self.isSingletonParameterNode = True

    def getParameterNode(self) -> Any:
        node = slicer.mrmlScene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
        if node is not None:
            if node.GetAttribute("ModuleName") != self.moduleName:
                node.SetAttribute("ModuleName", self.moduleName)
            return node
        node = slicer.mrmlScene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
        node.UnRegister(None)
        node.SetSingletonTag(self.moduleName)
        node.SetAttribute("ModuleName", self.moduleName)
        node.SetName(slicer.mrmlScene.GenerateUniqueName(self.moduleName))
        return slicer.mrmlScene.AddNode(node)


class ScriptedLoadableModuleTest(unittest.TestCase):
    def delayDisplay(self, message: str, requestedDelay: int | None = None, msec: int | None = None) -> None:
        logging.info(message)


def i18n_module() -> types.ModuleType:
    module = types.ModuleType("slicer.i18n")
    module.tr = lambda text: text
    module.translate = lambda context, text: text
    return module


def scripted_module() -> types.ModuleType:
    module = types.ModuleType("slicer.ScriptedLoadableModule")
    for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget, ScriptedLoadableModuleLogic,
                ScriptedLoadableModuleTest):
        setattr(module, cls.__name__, cls)
    return module
