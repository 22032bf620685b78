"""The package's version, in one place below every stage (``trainprint.__version__`` re-exports it;
modules read it from here, so that none of them imports the package root, which imports the API)."""

__version__ = "0.1.0"
