"""Installing MIRV's Python packages in Slicer, and the modules' self-tests with and without them.

What Slicer's own source says would happen (``slicer.util.pip_install`` shlex-splits a string; Slicer ≥ 5.12's
``slicer.packaging.pip_ensure`` prompts by default, raises RuntimeError when declined and skips installs in
testing mode; Reload & Test calls ``runTest`` outside unittest), driven through the widget harness.
"""

from __future__ import annotations

import io
import subprocess
import sys
import types
import unittest

import pytest
from slicer_env import slicer  # noqa: F401  (skips without slicer-core)
from slicer_gui.harness import installed
from slicer_gui.qt_widgets import QMessageBox

pytestmark = pytest.mark.slicer
MISSING = "mirv-test-not-installed==1.0"


@pytest.fixture()
def gui(slicer_env):
    with installed(slicer_env) as running:
        yield running


@pytest.fixture()
def testing_gui(slicer_env):
    """The application started with ``--testing`` (ctest)."""
    with installed(slicer_env, testing=True) as running:
        yield running


@pytest.fixture()
def unmet(tmp_path, monkeypatch):
    """Requirements with one package that is not installed (and one that is)."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# MIRV\n{MISSING}\nnumpy>=1\n", encoding="utf-8")

    def point_modules_at_it():
        import MIRV

        monkeypatch.setattr(MIRV, "requirementsPath", lambda: requirements)
        return MIRV

    return point_modules_at_it


@pytest.fixture()
def fresh_slicer(unmet, monkeypatch):
    """A fresh Slicer: MIRV's requirements unmet, pandas not importable, pip_install recorded (never run)."""
    monkeypatch.setitem(sys.modules, "pandas", None)
    calls = record_pip_install(monkeypatch)

    def set_up():
        unmet()
        return calls

    return set_up


def record_pip_install(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(slicer.util, "pip_install", lambda requirements: calls.append(requirements), raising=False)
    return calls


def test_a_package_in_the_wrong_version_is_unmet_although_it_imports(tmp_path):
    from MIRVLogic.dependencies import unmet_requirements

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy>=999\nnumpy>=1\nPyYAML>=6  # comment\n-c constraints.txt\n"
                            "pywin32>=1; sys_platform == 'win32'\n", encoding="utf-8")
    assert unmet_requirements(requirements) == ["numpy>=999"]


def test_before_slicer_5_12_unmet_requirements_install_as_a_list(gui, fresh_slicer):
    """A string would be shlex-split by slicer.util.pip_install: Windows paths with backslashes or spaces break."""
    import MIRV

    calls = fresh_slicer()
    gui.user.answer("messageBox", QMessageBox.Ok)
    assert MIRV.ensureDependencies() is False  # still unmet afterwards: the recorder installed nothing
    assert calls == [[MISSING]]
    [box] = gui.user.message_boxes
    assert box.details == MISSING and "Install them now?" in box.text


def test_slicer_5_12_asks_once_and_pip_ensure_does_not_ask_again(gui, fresh_slicer, monkeypatch):
    import MIRV

    calls = fresh_slicer()
    ensured = []
    packaging = types.ModuleType("slicer.packaging")
    packaging.pip_ensure = lambda requirements, **options: ensured.append((requirements, options))
    packaging.load_requirements = lambda path: [line for line in open(path) if line.strip()]
    monkeypatch.setitem(sys.modules, "slicer.packaging", packaging)
    gui.user.answer("messageBox", QMessageBox.Ok)
    MIRV.ensureDependencies()
    assert ensured == [([MISSING], {"prompt_install": False, "requester": "MIRV"})] and calls == []
    assert len(gui.user.message_boxes) == 1


def test_declining_installs_nothing_and_says_what_is_missing(gui, unmet, monkeypatch):
    unmet()
    calls = record_pip_install(monkeypatch)
    widget = gui.widget("MIRV")
    gui.user.answer("messageBox", QMessageBox.Cancel)
    assert widget._ensureLogic() is False
    assert calls == [] and widget.logic is None
    assert widget.ui.statusLabel.text == f"MIRV needs Python packages that are not installed: {MISSING}."


def test_a_failed_install_is_shown_to_the_user(gui, unmet, monkeypatch):
    unmet()

    def failing_install(requirements):
        raise subprocess.CalledProcessError(1, ["PythonSlicer", "-m", "pip", "install", *requirements])

    monkeypatch.setattr(slicer.util, "pip_install", failing_install, raising=False)
    widget = gui.widget("MIRV")
    gui.user.answer("messageBox", QMessageBox.Ok)
    with pytest.raises(subprocess.CalledProcessError):
        widget._ensureLogic()
    [question, error] = gui.user.message_boxes
    assert error.text.startswith("Installing MIRV's Python packages failed.") and "pip" in error.details


def test_testing_mode_never_installs(testing_gui, fresh_slicer):
    """ctest runs ``--testing`` without network; Slicer ≥ 5.12 skips installs there too."""
    import MIRV

    calls = fresh_slicer()
    assert MIRV.ensureDependencies(ask=False) is False and MIRV.ensureDependencies() is False
    assert calls == [] and testing_gui.user.message_boxes == []


def _run_with_unittest(test_case_class) -> unittest.TestResult:
    """What ctest (slicer.testing.runUnitTest) does: unittest's loader and runner."""
    return unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(
        unittest.TestLoader().loadTestsFromTestCase(test_case_class))


def test_ctest_without_the_packages_still_tests_the_sample_data(testing_gui, fresh_slicer):
    MIRV = testing_gui.module("MIRV")
    installs = fresh_slicer()
    result = _run_with_unittest(MIRV.MIRVTest)
    assert (result.testsRun, len(result.skipped), result.errors, result.failures) == (2, 1, [], [])
    assert "pip install -r" in result.skipped[0][1] and installs == []


def test_cohort_ctest_without_the_packages_skips_instead_of_import_error(testing_gui, fresh_slicer):
    cohort = testing_gui.module("MIRVCohort")
    fresh_slicer()
    result = _run_with_unittest(cohort.MIRVCohortTest)
    assert (result.testsRun, len(result.skipped), result.errors, result.failures) == (2, 1, [], [])


def test_reload_and_test_reports_a_skip_instead_of_failing(gui, fresh_slicer, caplog):
    widget = gui.widget("MIRV")
    fresh_slicer()
    gui.user.answer("messageBox", QMessageBox.Cancel)  # the developer declines the install
    with caplog.at_level("INFO"):
        try:
            widget.onReloadAndTest()
        except unittest.SkipTest as raised:  # Slicer shows this as "Reload and Test failed."
            pytest.fail(f"Reload & Test raised {raised!r}")
    assert [box.text for box in gui.user.message_boxes if "failed" in box.text] == []
    shown = [record.getMessage() for record in caplog.records]  # what delayDisplay showed
    assert "Loading the sample patient from the Sample Data module" in shown
    assert any(message.startswith("test_MIRV_sample_patient skipped: MIRV's Python packages") for message in shown)


@pytest.mark.slow
def test_self_tests_pass_with_the_packages_installed(gui):
    """Reload & Test of both modules, with everything installed: the full pipeline on the sample patient."""
    for name in ("MIRV", "MIRVCohort"):
        widget = gui.widget(name)
        widget.onReloadAndTest()
    assert gui.user.message_boxes == []
