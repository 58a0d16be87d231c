"""The default backend: TF-IDF features and a logistic regression, trained offline.

Trained from ``training.jsonl`` (see :mod:`.training`) the first time a process asks for it,
in a few seconds, then kept for the life of the process. With ``cache_dir`` the fitted model
is also saved with joblib, under a name made of the training file's hash, the model's
parameters and the scikit-learn version, so a later process loads it instead of training.

Deterministic: the same training file, parameters and scikit-learn version give the same
model and the same labels, which is what lets the step cache labels under :attr:`identity`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import ConfigError

from .base import ClassifierStats, Prediction
from .training import TRAINING_PATH, read_jsonl

log = logging.getLogger(__name__)

#: Bump when the code below changes what the model predicts (features, estimator).
MODEL_VERSION = "1"
#: The model's parameters; part of the identity, so changing one relabels everything.
PARAMS: dict[str, Any] = {
    "word_ngrams": (1, 2),       # words and word pairs: "how do", "feature request"
    "char_ngrams": (2, 4),       # characters inside words: typos, German/Spanish/French forms
    "char_min_df": 2,            # drop character n-grams seen once: noise, and a smaller model
    "C": 10.0,                   # weak regularisation: the labels are mostly clear-cut
    "max_iter": 3000,
}
CHUNK = 20_000                   # texts vectorised at once: bounds memory on large batches

_MODELS: dict[str, Any] = {}     # model key -> fitted pipeline, for the life of the process
_MODELS_LOCK = threading.Lock()


def _sklearn_version() -> str:
    from importlib.metadata import version   # without importing scikit-learn (0.7 s)
    return version("scikit-learn")


def _build_pipeline(params: Mapping[str, Any]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(
        TfidfVectorizer(ngram_range=tuple(params["word_ngrams"]), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(params["char_ngrams"]),
                        min_df=params["char_min_df"], sublinear_tf=True),
    )
    return make_pipeline(features, LogisticRegression(C=params["C"],
                                                      max_iter=params["max_iter"]))


class SklearnClassifier:
    """TF-IDF (word and character n-grams) + logistic regression.

    Args:
        training_path: a JSONL file of ``{"text", "label"}`` records; its labels are the
            classifier's labels. Defaults to the file shipped with the package.
        cache_dir: where to keep the fitted model between processes; None keeps it in
            memory only.

    Example:
        >>> clf = SklearnClassifier()                                   # doctest: +SKIP
        >>> [p.label for p in clf.classify(["Love the new charts!"])]   # doctest: +SKIP
        ['praise']
    """

    OPTIONS = frozenset({"training_path", "cache_dir"})

    def __init__(self, training_path: str | Path | None = None,
                 cache_dir: str | Path | None = None) -> None:
        self.training_path = Path(training_path) if training_path else TRAINING_PATH
        if not self.training_path.is_file():
            raise ConfigError(f"classifier training file {self.training_path} does not exist",
                              path=str(self.training_path))
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.training_sha256 = hashlib.sha256(self.training_path.read_bytes()).hexdigest()
        params_text = json.dumps({"version": MODEL_VERSION, **PARAMS}, sort_keys=True)
        self.params_sha256 = hashlib.sha256(params_text.encode()).hexdigest()
        self.sklearn_version = _sklearn_version()
        self.identity = (f"sklearn/tfidf-logreg-v{MODEL_VERSION}/train-"
                         f"{self.training_sha256[:10]}/params-{self.params_sha256[:6]}/"
                         f"sklearn-{self.sklearn_version}")
        self.stats = ClassifierStats()
        self._model = None      # trained or loaded on first use: a dry run needs none

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SklearnClassifier:
        return cls(training_path=options.get("training_path"),
                   cache_dir=options.get("cache_dir"))

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels of the training set, sorted."""
        return tuple(str(c) for c in self.model.classes_)

    @property
    def model(self):
        """The fitted scikit-learn pipeline: from this process, the cache dir, or trained."""
        if self._model is None:
            key = f"{self.training_sha256[:16]}-{self.params_sha256[:8]}-{self.sklearn_version}"
            path = self.cache_dir / f"tfidf-logreg-{key}.joblib" if self.cache_dir else None
            with _MODELS_LOCK:
                model = _MODELS.get(key)
                if model is None and path is not None:
                    model = _load(path)
                if model is None:
                    model = self._train()
                if path is not None and not path.is_file():
                    _save(model, path)
                self._model = _MODELS[key] = model
        return self._model

    def _train(self):
        records = read_jsonl(self.training_path)
        if not records:
            raise ConfigError(f"classifier training file {self.training_path} is empty",
                              path=str(self.training_path))
        from threadpoolctl import threadpool_limits   # installed with scikit-learn

        started = time.perf_counter()
        model = _build_pipeline(PARAMS)
        # One BLAS thread: on a small problem more threads only fight (3x slower on 2 busy
        # cores), and the result cannot depend on how the work was split.
        with threadpool_limits(limits=1):
            model.fit([r["text"] for r in records], [r["label"] for r in records])
        log.info("trained the message classifier on %d examples in %.1f s", len(records),
                 time.perf_counter() - started)
        return model

    def classify(self, texts: Sequence[str], *, skip_errors: bool = False
                 ) -> list[Prediction]:
        """Label ``texts``; the probability of the chosen label is the confidence.

        ``skip_errors`` is accepted for the interface's sake: a local model has no per-text
        failures (a non-string counts as empty text).
        """
        started = time.perf_counter()
        model = self.model
        classes = np.asarray([str(c) for c in model.classes_], dtype=object)
        out: list[Prediction] = []
        for start in range(0, len(texts), CHUNK):
            chunk = [t if isinstance(t, str) else "" for t in texts[start:start + CHUNK]]
            proba = model.predict_proba(chunk)
            best = proba.argmax(axis=1)
            confidence = proba[np.arange(len(best)), best]
            out.extend(Prediction(label, conf, None) for label, conf
                       in zip(classes[best].tolist(), confidence.tolist(), strict=True))
        self.stats.add(texts=len(texts), seconds=time.perf_counter() - started)
        return out

    def __repr__(self) -> str:
        return f"SklearnClassifier(identity={self.identity!r})"


def _load(path: Path):
    import joblib

    if not path.is_file():
        return None
    try:
        return joblib.load(path)
    except Exception as exc:       # truncated, or written by another library version: retrain
        log.warning("cannot load the cached classifier %s (%s); training again", path, exc)
        return None


def _save(model, path: Path) -> None:
    import joblib

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            joblib.dump(model, tmp)
            os.replace(tmp, path)        # never a half-written model under the final name
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:               # a read-only project still classifies
        log.warning("cannot save the classifier to %s: %s", path, exc)
