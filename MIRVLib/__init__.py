"""MIRVLib: the science of MIRV (Measured Intrapatient Radiomic Variability), free of Slicer and Qt."""

__version__ = "0.2.0"
