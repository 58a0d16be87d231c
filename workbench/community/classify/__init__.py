"""Label community messages: question / feedback / bug / praise / other, with a confidence.

The step :func:`classify_messages` reads ``stg_community_messages`` and writes one label per
message, incrementally and through a cache keyed on the text (see :mod:`.step`). The model
behind it is pluggable (:class:`Classifier`, :func:`make_classifier`):

* ``sklearn`` (default): TF-IDF + logistic regression trained offline from the labeled
  ``training.jsonl`` shipped in this package (:mod:`.local`, :mod:`.training`);
* ``openai``: any OpenAI-compatible chat-completions endpoint (:mod:`.chat`).

Declared in ``workbench.toml``::

    [steps.classify_messages]
    function = "workbench.community.classify:classify_messages"
    inputs = ["stg_community_messages"]
    output = "message_labels"
    [steps.classify_messages.options]
    backend = "sklearn"          # or "openai", with base_url / model / max_concurrency ...

Used directly, e.g. in a notebook::

    >>> from workbench.community.classify import make_classifier
    >>> clf = make_classifier({"backend": "sklearn"})                  # doctest: +SKIP
    >>> [p.label for p in clf.classify(["How do I schedule a run?"])]  # doctest: +SKIP
    ['question']

Errors: :class:`~workbench.errors.ClassifierError` (re-exported here) when a text cannot
be labeled; it names the message id, the start of the text and the endpoint.
"""

from .base import (
    BACKENDS,
    LABELS,
    Classifier,
    ClassifierError,
    ClassifierStats,
    STEP_OPTIONS,
    Prediction,
    make_classifier,
)
from .step import CACHE_TABLE, classify_messages

__all__ = [
    "BACKENDS",
    "CACHE_TABLE",
    "Classifier",
    "ClassifierError",
    "ClassifierStats",
    "LABELS",
    "Prediction",
    "STEP_OPTIONS",
    "classify_messages",
    "make_classifier",
]
