"""The interpreter matrix (``make test-matrix``): MIRVLib's tests and every module script's import under Python 3.9
(Slicer 5.8) and 3.12 (Slicer 5.10 → main), in venvs of their own — see `interpreter_matrix`. A missing
interpreter is a skip with the reason."""

from __future__ import annotations

import pytest
from interpreter_matrix import VERSIONS, run_version

pytestmark = [pytest.mark.matrix, pytest.mark.slow]


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("version", VERSIONS)
def test_mirvlib_tests_pass_and_module_scripts_import(version):
    result = run_version(version)
    if result.startswith("skipped"):
        pytest.skip(result)
    assert result == "passed"
