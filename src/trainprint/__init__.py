"""trainprint: which real images did this generative model train on?

The data takes one road through the package, one folder per stage (docs/ARCHITECTURE.md):

    data (ImageSet) -> extractors (fingerprints, N x D) -> similarity -> membership (scores, rules)
      -> methods -> evaluation (folds, metrics, run folder) -> submit (run files) -> report (HTML)

``core`` sits below every stage; ``demo``, ``api`` and ``cli`` sit above them.

The Python API (``api.py``, docs/api.md) is three calls:

    trainprint.audit(generated, real, *, reference=None, dev=None, out=None, ...) -> AuditResult
    trainprint.evaluate(dev, *, out=None, ...)                                  -> EvaluateResult
    trainprint.submit(dev, test, *, out=None, ...)                              -> SubmitResult

``audit`` and ``submit`` are also the names of two stages' subpackages, and Python sets
``trainprint.audit`` to the subpackage whenever one of its modules is imported. So the name is not
a function here but the subpackage itself, made callable: its class becomes ``_CallablePackage``,
whose ``__call__`` is the API function. ``trainprint.audit`` is then one object whatever was
imported before or after (``import trainprint.audit.pipeline`` changes nothing), it is the
subpackage for ``from trainprint.audit.config import AuditConfig``, and calling it runs the audit.
``trainprint.api.audit`` is the same function under its plain name. Importing this package imports
no numerical library (the subpackages' ``__init__`` import nothing; ``api`` imports lazily).
"""

from __future__ import annotations

import types
from typing import Any

from trainprint import api
from trainprint import audit as _audit_package
from trainprint import submit as _submit_package
from trainprint.api import AuditResult, EvaluateResult, SubmitResult, evaluate
from trainprint.core.errors import TrainprintError
from trainprint.core.version import __version__


class _CallableAudit(types.ModuleType):
    """The ``trainprint.audit`` subpackage, callable as ``trainprint.api.audit``."""

    __call__ = staticmethod(api.audit)

    @property
    def __signature__(self) -> Any:  # what inspect.signature / help() in a notebook show for the call
        import inspect

        return inspect.signature(api.audit)


class _CallableSubmit(types.ModuleType):
    """The ``trainprint.submit`` subpackage, callable as ``trainprint.api.submit``."""

    __call__ = staticmethod(api.submit)

    @property
    def __signature__(self) -> Any:
        import inspect

        return inspect.signature(api.submit)


_audit_package.__class__ = _CallableAudit
_submit_package.__class__ = _CallableSubmit

__all__ = ["AuditResult", "EvaluateResult", "SubmitResult", "TrainprintError", "__version__", "api", "audit",
           "evaluate", "submit"]
