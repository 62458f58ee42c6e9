"""Qt-free logic of the MIRV Slicer modules (MRML only: runs in Slicer and on slicer-core).

``MIRVLogic`` (per patient, module ``MIRV``) lives in :mod:`MIRVLogic.patient`; the cohort statistics logic of
module ``MIRVCohort`` in :mod:`MIRVLogic.cohort`; DataFrame ↔ table node helpers in :mod:`MIRVLogic.tables`.
The package itself imports nothing heavy: ``from MIRVLogic import MIRVLogic`` loads MIRVLib (and its
dependencies) on first use, so Slicer can show the module before they are installed.
"""

__all__ = ["DEFAULT_MODEL", "METRICS", "ExtractionCancelled", "MIRVLogic", "MIRVResult"]


def __getattr__(name: str):
    if name in __all__:
        from MIRVLogic import patient

        return getattr(patient, name)
    raise AttributeError(f"module 'MIRVLogic' has no attribute {name!r}")
