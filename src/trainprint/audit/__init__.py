"""The audit: a verdict for every real image of a folder, with the evidence beside it.

``audit(cfg, out)`` (``pipeline.py``) reads bare image folders (``data.plain``, one scale for them), scores the real
images with a label-free method or the method a dev set's strict CV recommends, finds each one's
nearest generated images, computes p-values, the global test and the number of members with an
interval (``stats.py``), and writes ``audit.csv``, ``audit.json`` and the images ``report`` draws
``audit.html`` from. The default label-free method and why: ``config.py``.
"""

from trainprint.audit.config import DEFAULT_LABEL_FREE_METHOD, AuditConfig
from trainprint.audit.pipeline import audit, audit_images

__all__ = ["DEFAULT_LABEL_FREE_METHOD", "AuditConfig", "audit", "audit_images"]
