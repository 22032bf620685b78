"""Per-real-image membership: scores, decision rules, and the estimators built from them.

    scores.py             label-free scores from similarities (best match, top-k, nn count, calibrated)
    rules/                one small class per decision rule, ``uses_labels`` declared; ``RULES``
    similarity_method.py  SimilarityMethod: a space + a rule (the ``sim-<space>/<rule>`` methods)
    classifiers.py        the paper's strategies and classifiers over fingerprints
    baselines.py          all-used and chance
"""
