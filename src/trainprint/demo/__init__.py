"""The built-in demo: procedural chest-CT phantoms (``phantoms.py``), a small DCGAN trained on the
used patients (``generator.py``), the demo task folder (``make.py``) and the whole pipeline run on
it (``pipeline.py``). Outside the library's core: nothing else imports it but the CLI."""
