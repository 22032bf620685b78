"""The audit: a verdict for every real image of a folder, with the evidence beside it.

``audit(cfg, out)`` (``pipeline.py``) reads bare image folders (``data.plain``, one scale for them), scores the real
images with a label-free method or the method a dev set's strict CV recommends, finds each one's
nearest generated images, computes p-values, the global test and the number of members with an
interval (``stats.py``), and writes ``audit.csv``, ``audit.json`` and the images ``report`` draws
``audit.html`` from; it returns the summary, ``AuditSummary`` (``result.py``). The default
label-free method and why: ``config.py``.

This package imports nothing when it is imported (``import trainprint`` stays light): import
``AuditConfig`` from ``trainprint.audit.config`` and the pipeline from ``trainprint.audit.pipeline``.
The package object is also callable: ``trainprint.audit(generated, real, ...)`` is the Python API's
``trainprint.api.audit`` (``trainprint/__init__.py`` says why; docs/api.md).
"""
