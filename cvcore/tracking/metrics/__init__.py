"""The MOT metric families, one module each, in TrackEval's order; adding a metric is adding
its module (a :class:`~.base.Metric` subclass) and its entry here."""

from .base import Frames, Metric
from .clear import CLEAR
from .count import Count
from .hota import HOTA
from .identity import Identity

FAMILIES: tuple[Metric, ...] = (HOTA(), CLEAR(), Identity(), Count())

__all__ = ["CLEAR", "FAMILIES", "HOTA", "Count", "Frames", "Identity", "Metric"]
