"""Official run files: write, validate, read, score, vote (``runfiles.py``), and the ``submit``
pipeline that fits every method on the dev set and answers a test folder (``pipeline.py``).

The package object is also callable: ``trainprint.submit(dev, test, ...)`` is the Python API's
``trainprint.api.submit`` (``trainprint/__init__.py`` says why; docs/api.md).
"""
