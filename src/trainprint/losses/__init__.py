"""Loss terms. Each objective is a set of named, weighted terms (``base.WeightedTerms``):

- ``triplet``: the Vector-Net constraints (1), (2), (3) of the paper, one term each;
- ``deform``: the deforming autoencoder's reconstruction, smoothness and bias terms.

Submodules are imported where they are used, so importing this package stays cheap.
"""
