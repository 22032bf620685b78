"""The torch modules only (no training, no data): ``vectornet.VectorNet``, ``dae`` (deforming
autoencoder) and ``warp`` (its grid operations). Shapes are documented in each module."""
