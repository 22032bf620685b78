"""Cross-validation of membership methods on a dev set: folds, protocols, fingerprints, results.

Start at ``evaluate.py``: its docstring lists the modules of this folder in the order one
evaluation walks through them.
"""
