"""Cohort batch runs: manifest → per-lesion tasks (in-process or Dask) → resumable store → cohort outputs."""
