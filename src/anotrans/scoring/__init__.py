"""Scoring: score formulas and their validation-fitted threshold, metrics, reports and heat maps."""

from anotrans.scoring.metrics import image_metrics
from anotrans.scoring.scores import DEFAULT_SCORE, SCORE_FORMULAS, ScoreConfig, Scorer

__all__ = ["DEFAULT_SCORE", "SCORE_FORMULAS", "ScoreConfig", "Scorer", "image_metrics"]
