"""The classifier interface: what every backend offers, and how one is picked from options.

A backend is any object with an ``identity`` and a ``classify`` method (:class:`Classifier`).
The step never looks further than that, so a new backend (a local transformer, a rules
engine) is one class and one entry in :data:`BACKENDS`.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from workbench.errors import ClassifierError, ConfigError

from ..labels import LABELS

__all__ = [
    "BACKENDS",
    "LABELS",
    "Classifier",
    "ClassifierError",
    "ClassifierStats",
    "Prediction",
    "STEP_OPTIONS",
    "make_classifier",
]


@dataclass(frozen=True)
class Prediction:
    """One text's label, or, with ``classify(..., skip_errors=True)``, why there is none."""

    label: str | None          # one of the classifier's labels; None only when error is set
    confidence: float | None   # 0..1: the model's probability, or the LLM's own estimate
    tokens: int | None = None  # tokens the call cost (LLM backends); None where it means nothing
    error: str | None = None   # the failure, kept as data instead of raised

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ClassifierStats:
    """Counters a classifier keeps over its life; thread-safe through :meth:`add`."""

    texts: int = 0        # texts classified
    requests: int = 0     # HTTP requests sent (LLM backends), retries included
    retries: int = 0      # requests that were retries
    tokens: int = 0       # tokens reported by the endpoint
    seconds: float = 0.0  # wall time spent inside classify()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {k: getattr(self, k) for k in ("texts", "requests", "retries", "tokens",
                                                  "seconds")}


@runtime_checkable
class Classifier(Protocol):
    """What the ``classify_messages`` step needs from a backend.

    ``identity`` names the model, its version, prompt and training data: it must change
    whenever any of them would change a label, because the step's cache is keyed on it.
    ``classify`` returns one :class:`Prediction` per text, in order. When a text cannot be
    labeled it raises :class:`ClassifierError`, or, with ``skip_errors=True``, returns a
    Prediction whose ``error`` says why, so that the texts that did work are not lost.
    """

    identity: str
    labels: tuple[str, ...]
    stats: ClassifierStats

    def classify(self, texts: Sequence[str], *, skip_errors: bool = False
                 ) -> list[Prediction]: ...


def _sklearn() -> type:
    from .local import SklearnClassifier   # scikit-learn itself is imported on first use
    return SklearnClassifier


def _openai() -> type:
    from .chat import ChatClassifier
    return ChatClassifier


#: backend name -> the class, imported when asked for. A class offers ``OPTIONS`` (the option
#: names it reads) and ``from_options(options)``.
BACKENDS: dict[str, Callable[[], type]] = {
    "sklearn": _sklearn,
    "openai": _openai,
}
#: Options of the step itself, allowed next to any backend's.
STEP_OPTIONS = frozenset({"backend", "batch_size", "on_error", "input", "cache_dir"})


def make_classifier(options: Mapping[str, Any] | None = None) -> Classifier:
    """The classifier that ``options["backend"]`` names (default ``"sklearn"``).

    Example:
        >>> clf = make_classifier({"backend": "sklearn"})      # doctest: +SKIP
        >>> clf.classify(["How do I export to CSV?"])[0].label  # doctest: +SKIP
        'question'
    """
    options = dict(options or {})
    backend = str(options.get("backend", "sklearn")).lower()
    try:
        cls = BACKENDS[backend]()
    except KeyError:
        raise ConfigError(f"classifier backend {backend!r} is unknown: use one of "
                          f"{', '.join(sorted(BACKENDS))}", backend=backend) from None
    allowed = STEP_OPTIONS | cls.OPTIONS
    for name in sorted(set(options) - allowed):
        close = difflib.get_close_matches(name, sorted(allowed), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown option {name!r} for the {backend} classifier.{hint} "
                          f"It reads: {', '.join(sorted(allowed))}", option=name,
                          backend=backend)
    return cls.from_options(options)
