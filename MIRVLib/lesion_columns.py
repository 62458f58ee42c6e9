"""Column names of the lesion feature table, importable without pandas.

The extraction engine and its worker processes only need these names; keeping them out of
:mod:`MIRVLib.lesion_table` (which needs pandas) spares every ``mirv extract`` run and worker ~0.2 s of imports.
"""

PATIENT_ID = "PatientID"
LESION_ID = "LesionID"
SITE = "Site"
SEGMENT_ID = "SegmentID"
STATUS = "Status"
STATUS_OK = "ok"
ID_COLUMNS = (PATIENT_ID, LESION_ID)
ITH_SCORE = "ITHscore"
# Descriptive columns of a lesion row (as `mirv extract` writes them); everything else is a radiomic feature.
# The intratumoral heterogeneity score describes one lesion; it is not part of the MIRV feature vector.
METADATA_COLUMNS = (PATIENT_ID, LESION_ID, SEGMENT_ID, SITE, STATUS, ITH_SCORE)
