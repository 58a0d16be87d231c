"""``prefect_http.QuickRetry``: a 503 from the Prefect server (a write SQLite refused) is
tried again within a second, before Prefect's own client would wait 2 s. Against a real
HTTP server on 127.0.0.1 that refuses a given number of times."""

from __future__ import annotations

import http.server
import threading

import httpx
import pytest

from workbench.prefect_http import QUICK_RETRIES, QuickRetry


@pytest.fixture
def refusing_server():
    """A server that answers 503 to the first ``refusals[0]`` POSTs, then 201; it counts
    the requests and keeps each body."""
    state = {"refusals": 0, "bodies": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            state["bodies"].append(self.rfile.read(int(self.headers["Content-Length"])))
            refused = len(state["bodies"]) <= state["refusals"]
            self.send_response(503 if refused else 201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


def test_a_refused_request_is_sent_again_with_its_body_until_accepted(refusing_server):
    url, state = refusing_server
    state["refusals"] = 2
    with httpx.Client(transport=QuickRetry()) as client:
        response = client.post(url + "/flow_runs/", json={"name": "load events"})

    assert response.status_code == 201
    assert len(state["bodies"]) == 3
    assert len(set(state["bodies"])) == 1 and b"load events" in state["bodies"][0]


def test_a_server_that_keeps_refusing_gets_its_503_back_to_prefect(refusing_server):
    url, state = refusing_server
    state["refusals"] = 100
    with httpx.Client(transport=QuickRetry()) as client:
        response = client.post(url + "/flow_runs/", json={})

    assert response.status_code == 503            # Prefect's own retries take over
    assert len(state["bodies"]) == 1 + len(QUICK_RETRIES)
