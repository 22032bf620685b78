"""trainprint: which real images did this generative model train on?

The data takes one road through the package:

    folders of images -> data (ImageSet) -> extractors (fingerprints, N x D)
      -> methods (scores per real image) -> evaluation (folds, metrics, run folder)
      -> runfiles (official run files) -> report (one HTML file from the run folder)
"""

__version__ = "0.1.0"
