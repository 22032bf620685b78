"""trainprint: which real images did this generative model train on?

The data takes one road through the package, one folder per stage (docs/ARCHITECTURE.md):

    data (ImageSet) -> extractors (fingerprints, N x D) -> similarity -> membership (scores, rules)
      -> methods -> evaluation (folds, metrics, run folder) -> submit (run files) -> report (HTML)

``core`` sits below every stage; ``demo`` and ``cli`` sit above them.
"""

__version__ = "0.1.0"
