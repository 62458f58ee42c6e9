"""Qt-free logic of the MIRV Slicer modules (MRML only: runs in Slicer and on slicer-core).

``MIRVLogic`` (per patient, module ``MIRV``) lives in :mod:`MIRVLogic.patient`; the cohort statistics logic of
module ``MIRVCohort`` in :mod:`MIRVLogic.cohort`; DataFrame ↔ table node helpers in :mod:`MIRVLogic.tables`.
"""

from MIRVLogic.patient import DEFAULT_MODEL, METRICS, ExtractionCancelled, MIRVLogic, MIRVResult

__all__ = ["DEFAULT_MODEL", "METRICS", "ExtractionCancelled", "MIRVLogic", "MIRVResult"]
