"""The one fit-and-score step of ``evaluate``, ``submit`` and ``audit`` (after ``methods.py`` on the
road, before ``evaluation/``): a method fitted on what it may see (``FitView``), images scored,
sibling groups honoured, per-image and per-patient scores out."""

from trainprint.scoring.fit import POOLED_KINDS, FitView, Scored, fit_method, label_refitter, representation, score_images
from trainprint.scoring.patients import PatientScores, majority, patient_calls, patient_scores

__all__ = ["POOLED_KINDS", "FitView", "PatientScores", "Scored", "fit_method", "label_refitter", "majority", "patient_calls",
           "patient_scores", "representation", "score_images"]
