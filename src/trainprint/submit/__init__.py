"""Official run files: write, validate, read, score, vote (``runfiles.py``), and the ``submit``
pipeline that fits every method on the dev set and answers a test folder (``pipeline.py``)."""
