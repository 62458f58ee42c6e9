"""Cohort statistics on the per-patient MIRV table joined to the user's clinical tables.

``join`` (tables, types, derived columns, missing values) → ``correlate`` (Spearman + BH-FDR),
``cox`` (lifelines Cox PH), ``survival`` (Kaplan–Meier, log-rank), ``compare`` (Kruskal–Wallis),
``simulate`` (Henry et al. lesion subsampling); ``figures`` draws them, ``analyses`` runs one analysis and
writes its files, ``report`` assembles a folder of results into one HTML page. Agreement and variability:
``icc`` (ICC(2,1), ICC(3,1)), ``variation`` (tests on per-patient |CV|), run with the clustering feature
selection (``MIRVLib.feature_clusters``) by ``variability``, drawn by ``variability_figures``.
"""
