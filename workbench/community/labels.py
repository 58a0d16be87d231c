"""The kinds of community message: the labels the classifier predicts, and the true labels
the sample's generator writes to its answer key. One tuple, so the two never disagree."""

LABELS: tuple[str, ...] = ("question", "feedback", "bug", "praise", "other")
