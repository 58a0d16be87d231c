"""Moved to ``workbench.community.demo``, with the rest of the sample company; this old
import path keeps working (``from workbench import demo``)."""

from .community.demo import (
    CHANNELS,
    FEATURE_KEYS,
    FEATURES,
    LABELED_PATH,
    LABELS,
    MONTHS,
    SOURCES,
    Feature,
    features_csv,
    generate,
    planned_sizes,
)

__all__ = [
    "CHANNELS",
    "FEATURES",
    "FEATURE_KEYS",
    "LABELED_PATH",
    "LABELS",
    "MONTHS",
    "SOURCES",
    "Feature",
    "features_csv",
    "generate",
    "planned_sizes",
]
