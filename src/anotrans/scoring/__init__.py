"""Scoring: score formulas and their validation-fitted threshold, metrics, reports and heat maps.

Names load lazily, so the torch-free modules (:mod:`normalise`, :mod:`predictions`) serve the ONNX
predictor without importing torch.
"""

from typing import TYPE_CHECKING

from anotrans.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from anotrans.scoring.metrics import image_metrics
    from anotrans.scoring.scores import DEFAULT_SCORE, SCORE_FORMULAS, ScoreConfig, Scorer

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "image_metrics": "anotrans.scoring.metrics",
        **dict.fromkeys(
            ("DEFAULT_SCORE", "SCORE_FORMULAS", "ScoreConfig", "Scorer"), "anotrans.scoring.scores"
        ),
    },
)

__all__ = ["DEFAULT_SCORE", "SCORE_FORMULAS", "ScoreConfig", "Scorer", "image_metrics"]
