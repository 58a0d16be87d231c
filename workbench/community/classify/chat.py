"""The ``openai`` backend: any OpenAI-compatible chat-completions endpoint.

One request per text, ``POST {base_url}/chat/completions`` with a JSON-schema
``response_format`` whose ``label`` is an enum of the labels, so a server that honours
structured output cannot answer outside them (and one that does not is checked anyway).
Requests run on a thread pool, at most ``max_concurrency`` in flight; each is retried with
exponential backoff on 429, 5xx, timeouts, connection errors and malformed answers, honouring
``Retry-After``. Other 4xx answers (a bad key, an unknown model) fail at once: retrying
cannot fix them.

Settings come from the step's options, else from the environment:

=================  ==========================  ============================================
option             environment                 meaning
=================  ==========================  ============================================
``base_url``       ``WORKBENCH_LLM_BASE_URL``  e.g. ``https://api.openai.com/v1`` or a local
                                               server's ``http://127.0.0.1:8000/v1``
``model``          ``WORKBENCH_LLM_MODEL``     the model name the server expects
``api_key``        ``WORKBENCH_LLM_API_KEY``   sent as a bearer token; keep it in the
                                               environment, not in workbench.toml
=================  ==========================  ============================================

Threads rather than asyncio: the step is called from Jupyter kernels and Prefect tasks, which
may already run an event loop, and the work is waiting on sockets, which threads do well.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

import httpx

from workbench.errors import ConfigError

from .base import LABELS, ClassifierError, ClassifierStats, Prediction

SYSTEM_PROMPT = """\
You label messages from a software company's community chat. Choose exactly one label:
- question: asks how to do something, whether something is possible, or for help.
- feedback: a feature request, suggestion or complaint about how the product works.
- bug: reports an error, a crash or behaviour that is broken.
- praise: thanks or compliments the product or the team.
- other: greetings, announcements, answers to others, "+1"s and anything else.
Give your confidence in the label as a number from 0 to 1.
Answer with JSON only: {"label": ..., "confidence": ...}."""

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def _setting(options: Mapping[str, Any], key: str, default: Any = None) -> Any:
    value = options.get(key)
    if value in (None, ""):
        value = os.environ.get(f"WORKBENCH_LLM_{key.upper()}") or default
    return value


class _Retry(Exception):
    """One failed attempt that is worth another try."""

    def __init__(self, reason: str, status: int | None = None,
                 retry_after: float | None = None, tokens: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.status, self.retry_after = reason, status, retry_after
        self.tokens = tokens


class ChatClassifier:
    """Labels texts with a chat model behind an OpenAI-compatible API.

    Args:
        base_url: the API root; ``/chat/completions`` is appended.
        model: the model name sent in each request.
        api_key: bearer token, or None for servers that need none.
        labels: the allowed labels (the JSON schema's enum).
        timeout: seconds for one request (connect, write, read each).
        max_retries: retries after the first attempt, per text.
        backoff: seconds before the first retry; doubles each time, with jitter.
        max_backoff: the longest wait between two attempts (Retry-After included).
        max_concurrency: requests in flight at once, across all calls of this object.
        max_chars: texts are cut to this many characters (a 50 kB paste costs real money).
        prompt: the system prompt; part of the identity.
        blank_label: the label of empty texts, given without a request.
        max_consecutive_failures: with ``skip_errors``, stop sending after this many texts
            failed in a row.
    """

    _TUNING = ("labels", "timeout", "max_retries", "backoff", "max_backoff", "max_concurrency",
               "max_chars", "prompt", "temperature", "blank_label", "max_consecutive_failures")
    OPTIONS = frozenset({"base_url", "model", "api_key", *_TUNING})

    def __init__(self, *, base_url: str, model: str, api_key: str | None = None,
                 labels: Sequence[str] = LABELS, timeout: float = 30.0, max_retries: int = 4,
                 backoff: float = 0.5, max_backoff: float = 30.0, max_concurrency: int = 4,
                 max_chars: int = 4000, prompt: str = SYSTEM_PROMPT, temperature: float = 0.0,
                 blank_label: str | None = "other", max_consecutive_failures: int = 20
                 ) -> None:
        if not base_url or not model:
            raise ConfigError("the openai classifier backend needs base_url and model: set "
                              "them in [steps.<name>.options] or as WORKBENCH_LLM_BASE_URL and "
                              "WORKBENCH_LLM_MODEL", base_url=base_url, model=model)
        if int(max_concurrency) < 1:
            raise ConfigError(f"max_concurrency must be at least 1, got {max_concurrency!r}")
        self.base_url = str(base_url).rstrip("/")
        self.endpoint = f"{self.base_url}/chat/completions"
        self.model = str(model)
        self.labels = tuple(labels)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_concurrency = int(max_concurrency)
        self.max_chars = int(max_chars)
        self.prompt = prompt
        self.temperature = float(temperature)
        self.blank_label = blank_label if blank_label in self.labels else None
        self.max_consecutive_failures = max(1, int(max_consecutive_failures))
        self.response_format = {
            "type": "json_schema",
            "json_schema": {
                "name": "message_label",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {
                        "label": {"type": "string", "enum": list(self.labels)},
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                    "required": ["label", "confidence"],
                    "additionalProperties": False,
                },
            },
        }
        # Whatever changes an answer changes the identity; the key and timeouts do not.
        recipe = json.dumps([self.prompt, self.response_format, self.temperature,
                             self.max_chars], sort_keys=True)
        digest = hashlib.sha256(recipe.encode()).hexdigest()[:10]
        self.identity = f"openai/{self.model}@{self.base_url}/prompt-{digest}"
        self.stats = ClassifierStats()
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=self.max_concurrency,
                                max_keepalive_connections=self.max_concurrency))

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ChatClassifier:
        return cls(base_url=_setting(options, "base_url"), model=_setting(options, "model"),
                   api_key=_setting(options, "api_key"),
                   **{k: options[k] for k in cls._TUNING if options.get(k) is not None})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ChatClassifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ChatClassifier(identity={self.identity!r}, max_concurrency={self.max_concurrency})"

    # -- classification ---------------------------------------------------------------------

    def classify(self, texts: Sequence[str], *, skip_errors: bool = False
                 ) -> list[Prediction]:
        """One request per text, ``max_concurrency`` at a time; order is kept.

        Args:
            texts: the texts to label.
            skip_errors: keep going past a text that fails, returning a Prediction with its
                ``error`` set; after ``max_consecutive_failures`` failures in a row (the
                endpoint is down, the key expired) the texts not yet sent are returned
                unsent, with an error saying so, rather than each waiting out its retries.

        Raises:
            ClassifierError: without ``skip_errors``, the first text that still failed after
                ``max_retries`` retries or that the endpoint refused; the rest are cancelled.
        """
        started = time.perf_counter()
        results: list[Prediction | None] = [None] * len(texts)
        stop = threading.Event()
        streak = [0]                      # failures in a row, across the worker threads
        lock = threading.Lock()

        def one(index: int) -> None:
            if stop.is_set():
                return
            try:
                results[index] = self._classify_one(index, texts[index], stop)
                with lock:
                    streak[0] = 0
            except ClassifierError as exc:
                if not skip_errors:
                    raise
                results[index] = Prediction(None, None, None, error=str(exc))
                with lock:
                    streak[0] += 1
                    if streak[0] >= self.max_consecutive_failures:
                        stop.set()

        pool = ThreadPoolExecutor(max_workers=self.max_concurrency,
                                  thread_name_prefix="classify")
        try:
            futures = [pool.submit(one, i) for i in range(len(texts))]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                if future.exception() is not None:
                    raise future.exception()
        finally:
            stop.set()      # after a failure: queued texts return at once, unsent
            pool.shutdown(wait=True, cancel_futures=True)
            self.stats.add(texts=sum(r is not None and r.ok for r in results),
                           seconds=time.perf_counter() - started)
        unsent = Prediction(None, None, None, error=(
            f"not sent: {self.endpoint} failed {self.max_consecutive_failures} texts in a row"))
        return [r if r is not None else unsent for r in results]

    def _classify_one(self, index: int, text: str, stop: threading.Event) -> Prediction:
        text = text if isinstance(text, str) else ""
        if not text.strip() and self.blank_label is not None:
            return Prediction(self.blank_label, 1.0, 0)
        body = {
            "model": self.model,
            "temperature": self.temperature,
            "messages": [{"role": "system", "content": self.prompt},
                         {"role": "user", "content": text[: self.max_chars]}],
            "response_format": self.response_format,
        }
        last: _Retry | None = None
        spent: int | None = None           # tokens over all attempts at this text
        for attempt in range(self.max_retries + 1):
            if stop.is_set():
                raise ClassifierError("cancelled: another text failed", endpoint=self.endpoint,
                                      index=index, text_prefix=text[:60], attempts=attempt)
            if attempt:
                self._sleep_before_retry(attempt, last, stop)
            try:
                with self._slots:
                    self.stats.add(requests=1, retries=1 if attempt else 0)
                    response = self._client.post(self.endpoint, json=body)
                prediction = self._parse(response)
            except _Retry as retry:
                last = retry
                if retry.tokens is not None:
                    spent = (spent or 0) + retry.tokens
                    self.stats.add(tokens=retry.tokens)
            except httpx.TimeoutException:
                last = _Retry(f"no answer within {self.timeout:g} s")
            except httpx.TransportError as exc:
                last = _Retry(f"{type(exc).__name__}: {exc}")
            except _Fatal as fatal:
                raise ClassifierError(
                    f"{self.endpoint} refused text #{index} ({text[:60]!r}): {fatal}",
                    endpoint=self.endpoint, index=index, text_prefix=text[:60],
                    attempts=attempt + 1, status=fatal.status) from None
            else:
                if prediction.tokens is not None:
                    self.stats.add(tokens=prediction.tokens)
                    spent = (spent or 0) + prediction.tokens
                return Prediction(prediction.label, prediction.confidence, spent)
        raise ClassifierError(
            f"{self.endpoint} failed for text #{index} ({text[:60]!r}) after "
            f"{self.max_retries + 1} attempts; last: {last.reason if last else '?'}",
            endpoint=self.endpoint, index=index, text_prefix=text[:60],
            attempts=self.max_retries + 1, status=last.status if last else None)

    def _sleep_before_retry(self, attempt: int, last: _Retry | None,
                            stop: threading.Event) -> None:
        delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        delay *= 0.5 + random.random() / 2          # jitter: retries of many texts spread out
        if last is not None and last.retry_after is not None:
            delay = max(delay, min(last.retry_after, self.max_backoff))
        stop.wait(delay)

    def _parse(self, response: httpx.Response) -> Prediction:
        status = response.status_code
        if status in RETRY_STATUSES or status >= 500:
            raise _Retry(f"HTTP {status}", status, _retry_after(response))
        if status >= 400:
            raise _Fatal(f"HTTP {status}: {response.text[:200]}", status)
        try:
            data = response.json()
        except ValueError:
            raise _Retry(f"malformed answer, not JSON: {response.text[:200]!r}", status) from None
        tokens = _tokens(data)        # a malformed answer was paid for too: count it
        try:
            content = data["choices"][0]["message"].get("content") or ""
            answer = json.loads(_strip_fences(content))
            label = answer["label"]
            confidence = min(1.0, max(0.0, float(answer["confidence"])))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise _Retry(f"malformed answer ({type(exc).__name__}: {exc}): "
                         f"{response.text[:200]!r}", status, tokens=tokens) from None
        if label not in self.labels:
            raise _Retry(f"label {label!r} is not one of {self.labels}", status, tokens=tokens)
        return Prediction(label, confidence, tokens)


def _tokens(data: Any) -> int | None:
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return None
    if usage.get("total_tokens") is not None:
        return int(usage["total_tokens"])
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        return int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
    return None


class _Fatal(Exception):
    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None     # an HTTP date, or nothing: fall back to the backoff


def _strip_fences(content: str) -> str:
    """Some servers wrap JSON in a Markdown code fence even when asked for JSON only."""
    text = content.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else text[3:]
        text = text.rsplit("```", 1)[0]
    return text
