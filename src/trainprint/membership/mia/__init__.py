"""Membership inference from samples only: scores that look past the nearest generated match.

    mia-<space>/domias-knn      DOMIAS density ratio, kNN densities           method.MiaMethod
    mia-<space>/domias-kde      DOMIAS density ratio, Gaussian KDE            method.MiaMethod
    mia-<space>/domias-clf      DOMIAS density ratio, G-vs-reference classifier  method.MiaMethod
    mia-<space>/gan-leaks-cal   GAN-Leaks calibrated distance                 method.MiaMethod
    mia-disc                    a CNN discriminator G vs reals, out-of-fold    discriminator.DiscriminatorMethod
    mia-fusion/rank             rank average of label-free scores of pixel spaces  fusion.FusionMethod
    mia-fusion/features         the same scores as features of a logistic regression (labels)

All are label-free except ``mia-fusion/features`` (and ``MiaMethod(reference="not-used")``);
anything trained is cross-fitted over the real images (``crossfit``). See docs/membership.md.
"""

from trainprint.membership.mia.method import MIA_SCORES, REFERENCES, MiaMethod, check_space_score, make_mia_method

__all__ = ["MIA_SCORES", "REFERENCES", "MiaMethod", "check_space_score", "make_mia_method"]
