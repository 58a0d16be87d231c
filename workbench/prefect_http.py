"""How a flow run's Prefect client talks to a plain-HTTP Prefect server (the project's own
on 127.0.0.1, usually): cheaply, and without Prefect's 2 s wait on a momentary refusal.

A local Prefect server keeps its database in SQLite. A write that meets another one (a flow
run created while the server records another run's task events, say) is refused with a 503,
and Prefect's client waits ``2 ** attempt`` seconds before trying again: in
``benchmarks/service.py`` one arrival in five waited 2 s for it. ``QuickRetry`` tries such a
request again after 50, 100, 200 and 400 ms first (the database transaction was rolled back,
so a second try is what Prefect does too), and only then hands the 503 to Prefect's own
retries. Used only for ``http://`` servers: a remote HTTPS server keeps Prefect's defaults.
"""

from __future__ import annotations

import ssl
import time

import httpx

# Loads no certificates: a plain-HTTP server never uses it. Given to the client so that it
# does not load certifi's bundle into a new SSL context for every flow run (0.1-0.25 s).
TLS_UNUSED = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
BUSY = 503                  # the server's answer to a write SQLite refused
QUICK_RETRIES = (0.05, 0.1, 0.2, 0.4)   # seconds before each quick try


class QuickRetry(httpx.BaseTransport):
    """An HTTP transport that retries a 503 a few times within a second."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport(retries=3)    # connection retries, as Prefect's

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        for pause in QUICK_RETRIES:
            if response.status_code != BUSY:
                break
            response.close()
            time.sleep(pause)
            response = self._inner.handle_request(request)
        return response

    def close(self) -> None:
        self._inner.close()


def run_client(url: str):
    """The one Prefect client context of a flow run on the server ``url``.

    Prefect's own calls in the run (its result store, twice a run) reuse the client of the
    run's context only if that context was made with no httpx settings; otherwise each
    builds a client of its own, and an SSL context with it (~25 ms each). So the context is
    marked as made without them, even when its client got the transport and TLS context
    above (plain HTTP): a Prefect that no longer reads the mark only builds those clients
    again."""
    from prefect.context import SyncClientContext

    if not url.startswith("http://"):
        return SyncClientContext()
    context = SyncClientContext(httpx_settings={"verify": TLS_UNUSED,
                                                "transport": QuickRetry()})
    context._httpx_settings = None
    return context
