"""MIRV's native radiomics engine: PyRadiomics' features and definitions in NumPy, SciPy, SimpleITK and PyWavelets.

Everything installs from binary wheels (no C compiler), and each lesion's work is organised once: the crop is
filtered once per image type, binned once (:class:`~MIRVLib.engine.region.Region`), and each texture matrix is
built once, vectorised. One module per feature class (``firstorder``, ``shape``, ``shape2d``, ``glcm``, ``glrlm``,
``glszm``, ``gldm``, ``ngtdm``), the image types in ``filters`` and PyRadiomics' pre-processing in
``preprocessing``. Values agree with PyRadiomics within relative 1e-9 (``Testing/test_engine_*.py``).
"""

from __future__ import annotations

from MIRVLib.engine.extractor import ENGINE_NAME, NativeExtractor
from MIRVLib.engine.params import ParameterError, validate

__all__ = ["ENGINE_NAME", "NativeExtractor", "ParameterError", "validate"]
