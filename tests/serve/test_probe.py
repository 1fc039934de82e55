"""A repeatable probe of a real `kashif serve` from outside, as a hostile client
would see it: what held when it was first probed by hand (keys, hostile bodies,
traversal) must keep holding, and what did not now does (slow clients get 408
and are cut off, connections beyond the cap are refused and counted, public
endpoints show no paths, keys or environment).

Two servers on the tiny bundle, started together: `open_srv` (keys, `--read-timeout 1`) and
`locked_srv` (keys, /metrics behind them and model paths exposed, set through
their environment variables; `--max-connections 4`)."""
from __future__ import annotations

import json
import re
import select
import socket
import threading
import time

import httpx
import pytest

from tests.support.server_fixtures import REPO, start_server, wait_until_ready

KEY = "probe-key-7f3a"
SENTINEL = "probe-env-sentinel-91c2"  # an environment value of the server that must never be shown
READ_TIMEOUT_S = 1.0
CAP = 4


@pytest.fixture(scope="module")
def servers(tiny_bundle_dir, tmp_path_factory):
    """Both servers, started together (they load their models side by side)."""
    log_dir = tmp_path_factory.mktemp("serve-probe")
    started = {
        "open": start_server(["--model", str(tiny_bundle_dir)], "--read-timeout", str(READ_TIMEOUT_S), "--max-connections", "64",
                             log_dir=log_dir, env={"KASHIF_API_KEYS": KEY, "PROBE_SECRET": SENTINEL}, wait_ready=False),
        "locked": start_server(["--model", str(tiny_bundle_dir)], "--read-timeout", "10", log_dir=log_dir, wait_ready=False,
                               env={"KASHIF_API_KEYS": KEY, "KASHIF_METRICS_AUTH": "1", "KASHIF_EXPOSE_MODEL_PATHS": "1",
                                    "KASHIF_MAX_CONNECTIONS": str(CAP)}),
    }
    try:
        for srv in started.values():
            wait_until_ready(srv)
        yield started
    finally:
        codes = [srv.stop() for srv in started.values()]
    assert codes == [0, 0]


@pytest.fixture(scope="module")
def open_srv(servers):
    return servers["open"]


@pytest.fixture(scope="module")
def locked_srv(servers):
    return servers["locked"]


@pytest.fixture(scope="module")
def client(open_srv):
    with httpx.Client(base_url=open_srv.url, timeout=60, headers={"Authorization": f"Bearer {KEY}"}) as c:
        yield c


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert error["message"] and (code is None or error["code"] == code), error
    return error


def _post_raw(client: httpx.Client, path: str, body: str, content_type: str = "application/json") -> httpx.Response:
    return client.post(path, content=body.encode("utf-8"), headers={"Content-Type": content_type})


def _metric(text: str, pattern: str) -> float:
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else 0.0


# ---- raw sockets -------------------------------------------------------------------
def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_to_eof(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the socket (fails if it does not)."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _status_and_body(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _raw_request(url: str, target: str) -> tuple[int, bytes]:
    """One GET with the request target exactly as given (no client-side normalisation)."""
    with _connect(url) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n".encode("latin-1"))
        raw = _read_to_eof(sock)
    return int(raw.split()[1]), raw


class Trickler(threading.Thread):
    """A slowloris client: sends `start`, then one byte every 0.1 s until the server
    answers or closes; records the answer and when it came."""

    def __init__(self, url: str, start: bytes, drip: bytes) -> None:
        super().__init__(daemon=True)
        self.sock, self.start_bytes, self.drip = _connect(url), start, drip
        self.answer, self.seconds, self.closed, self.answered_at = b"", None, False, None

    def run(self) -> None:
        t0 = time.monotonic()
        self.sock.sendall(self.start_bytes)
        while time.monotonic() - t0 < 10 * READ_TIMEOUT_S:
            readable, _, _ = select.select([self.sock], [], [], 0.1)
            if readable:
                break
            try:
                self.sock.sendall(self.drip)
            except OSError:
                break
        self.answered_at = time.monotonic()
        self.seconds = self.answered_at - t0
        try:
            self.answer = _read_to_eof(self.sock)
            self.closed = True
        except OSError:
            pass
        self.sock.close()


# ---- what held on the first probe, and must keep holding ------------------------------
def test_keys_missing_wrong_or_in_the_query_string_are_401(open_srv):
    with httpx.Client(base_url=open_srv.url, timeout=30) as c:
        for headers, query in (({}, ""), ({"Authorization": "Bearer wrong"}, ""), ({}, f"?api_key={KEY}"),
                               ({}, f"?access_token={KEY}"), ({"Authorization": KEY}, "")):
            _error(c.get("/v1/models" + query, headers=headers), 401, "unauthorized")
            _error(c.post("/v1/entities" + query, json={"text": "نص"}, headers=headers), 401, "unauthorized")
    assert KEY not in open_srv.log()


def test_lone_surrogate_and_a_bad_item_are_422(client):
    assert "surrogate" in _error(_post_raw(client, "/v1/entities", '{"text": "\\ud800"}'), 422, "invalid_request")["message"]
    assert "items[1]" in _error(client.post("/v1/stance", json={"items": [{"text": "نص"}, {"text": 5}]}), 422)["message"]


def test_oversized_texts_and_lists_are_413(client):
    bidi = json.dumps({"text": "\u200f" * 40_000}, ensure_ascii=False)
    _error(_post_raw(client, "/v1/entities", bidi), 413, "text_too_long")
    _error(client.post("/v1/entities", json={"text": "ن" * 200_000}), 413)
    _error(client.post("/v1/entities", json={"texts": ["a"] * 100_000}), 413, "too_many_items")
    _error(client.post("/v1/analyze", json={"text": "نص", "targets": ["t"] * 100_000}), 413, "too_many_items")


def test_deep_nesting_wrong_type_and_wrong_method(client):
    deep = '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}"
    _error(_post_raw(client, "/v1/entities", deep), 400)
    _error(_post_raw(client, "/v1/entities", '{"text": "نص"}', "text/plain"), 415, "unsupported_media_type")
    for route in ("/v1/entities", "/v1/stance", "/v1/analyze"):
        _error(client.get(route), 405, "method_not_allowed")
    assert client.post("/v1/entities", json={"text": "زار محمد القاهرة"}).status_code == 200  # and it still serves


@pytest.mark.parametrize("target", [
    "/../../../../etc/passwd", "/static/../../serve/app.py", "/static/..%2f..%2fserve%2fapp.py",
    "/static/%2e%2e/%2e%2e/serve/app.py", "/static/%252e%252e/%252e%252e/serve/app.py", "/static//etc/passwd",
    "/static/..\\..\\serve\\app.py", "/docs-assets/../../../../etc/passwd", "/static/%2e%2e%5c%2e%2e%5cserve%5capp.py",
])
def test_path_traversal_is_404(open_srv, target):
    status, raw = _raw_request(open_srv.url, target)
    assert status == 404, raw[:300]
    assert b"root:" not in raw and b"create_app" not in raw


# ---- slow clients ------------------------------------------------------------------
def test_slow_headers_and_body_get_408_and_are_closed_while_others_are_served(open_srv, client):
    before = client.get("/metrics").text
    head = b"POST /v1/entities HTTP/1.1\r\nHost: probe\r\nX-Request-ID: slow-head\r\n"
    body_start = (b"POST /v1/entities HTTP/1.1\r\nHost: probe\r\nX-Request-ID: slow-body\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"text\": \"")
    slow = [Trickler(open_srv.url, head, b"X") for _ in range(3)] + [Trickler(open_srv.url, body_start, b"a") for _ in range(3)]
    for t in slow:
        t.start()
    served = [client.post("/v1/entities", json={"text": "زار محمد القاهرة"}).status_code]
    served_at = time.monotonic()  # the first normal answer
    served += [client.post("/v1/entities", json={"text": "زار محمد القاهرة"}).status_code for _ in range(2)]
    for t in slow:
        t.join(15)
    assert served == [200] * 3
    assert served_at < min(t.answered_at for t in slow), "a normal request is answered while slow ones are held"
    for t, rid in zip(slow, ["slow-head"] * 3 + ["slow-body"] * 3):
        assert t.closed, "the server must close a slow client's socket"
        status, body = _status_and_body(t.answer)
        assert status == 408 and body["error"]["code"] == "request_timeout" and "--read-timeout" in body["error"]["message"]
        assert body["error"]["request_id"] == rid
        # a byte every 0.1 s did not move the deadline (the drip went on for 10 timeouts at most)
        assert 0.8 * READ_TIMEOUT_S <= t.seconds < 4 * READ_TIMEOUT_S, t.seconds
    after = client.get("/metrics").text
    for stage in ("headers", "body"):
        pattern = rf'^kashif_read_timeouts_total\{{stage="{stage}"\}} (\S+)$'
        assert _metric(after, pattern) - _metric(before, pattern) == 3
    assert _metric(after, r'^kashif_http_requests_total\{method="POST",route="/v1/entities",status="408"\} (\S+)$') >= 3


def test_a_silent_connection_is_closed_too(open_srv):
    with _connect(open_srv.url) as sock:
        t0 = time.monotonic()
        status, body = _status_and_body(_read_to_eof(sock))
        assert status == 408 and body["error"]["code"] == "request_timeout"
        assert time.monotonic() - t0 < 4 * READ_TIMEOUT_S


# ---- what public endpoints reveal ----------------------------------------------------
PUBLIC = ("/metrics", "/healthz", "/readyz", "/", "/openapi.json", "/docs", "/static/demo.js")
_HOST_PATH = re.compile(r"(?<![\w:/.])/(?:tmp|home|root|work|usr|etc|var|opt|srv|mnt|proc)/")


def test_public_endpoints_show_no_paths_keys_or_environment(open_srv, tiny_bundle_dir):
    with httpx.Client(base_url=open_srv.url, timeout=30) as anonymous:
        pages = {path: anonymous.get(path) for path in PUBLIC}
    for path, response in pages.items():
        assert response.status_code == 200, path
        text = response.text + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        for secret in (str(tiny_bundle_dir), str(REPO), KEY, SENTINEL, "KASHIF_API_KEYS"):
            assert secret not in text, f"{path} shows {secret!r}"
        assert not _HOST_PATH.search(text), f"{path} shows a path: {_HOST_PATH.search(text).group(0)!r}"
        assert "uvicorn" not in response.headers.get("server", ""), "no server banner"
    info = re.findall(r"^kashif_model_info\{(.*)\} 1\.0$", pages["/metrics"].text, re.M)
    assert len(info) == 2
    for labels in info:
        assert re.search(r'name="bundle\d*/(ner|stance)"', labels) and re.search(r'digest="[0-9a-f]{12}"', labels), labels


def test_models_show_name_and_digest_and_no_path_by_default(client, tiny_bundle_dir):
    models = client.get("/v1/models").json()["models"]
    assert {m["task"] for m in models} == {"ner", "stance"}
    metrics = client.get("/metrics").text
    for m in models:
        assert "source" not in m and m["name"] == f"{tiny_bundle_dir.name}/{m['task']}"
        assert re.fullmatch(r"[0-9a-f]{12}", m["digest"])
        assert f'digest="{m["digest"]}"' in metrics, "the same identity as /metrics"
    assert models[0]["digest"] != models[1]["digest"]
    assert str(tiny_bundle_dir) not in json.dumps(models)


def test_metrics_auth_and_exposed_model_paths(locked_srv, tiny_bundle_dir):
    with httpx.Client(base_url=locked_srv.url, timeout=30) as anonymous:
        _error(anonymous.get("/metrics"), 401, "unauthorized")
        assert anonymous.get("/healthz").status_code == 200 and anonymous.get("/readyz").status_code == 200
    with httpx.Client(base_url=locked_srv.url, timeout=30, headers={"Authorization": f"Bearer {KEY}"}) as c:
        assert "kashif_model_info" in c.get("/metrics").text
        models = {m["task"]: m for m in c.get("/v1/models").json()["models"]}
        assert models["ner"]["source"] == str(tiny_bundle_dir / "ner") and re.fullmatch(r"[0-9a-f]{12}", models["ner"]["digest"])
        assert str(tiny_bundle_dir) not in c.get("/metrics").text, "exposing paths is for /v1/models only"


# ---- the connection cap ----------------------------------------------------------------
def test_connections_beyond_the_cap_are_refused_and_counted(locked_srv):
    open_now = r"^kashif_open_connections (\S+)$"
    refused = r"^kashif_refused_connections_total (\S+)$"

    def wait_open(c: httpx.Client, want: int) -> str:
        deadline = time.monotonic() + 10
        while _metric(text := c.get("/metrics").text, open_now) != want:
            assert time.monotonic() < deadline, f"open connections never reached {want}: {_metric(text, open_now)}"
            time.sleep(0.02)
        return text

    with httpx.Client(base_url=locked_srv.url, timeout=30, headers={"Authorization": f"Bearer {KEY}"}) as c:
        before = _metric(wait_open(c, 1), refused)  # only this client's connection
        held = [_connect(locked_srv.url) for _ in range(CAP - 1)]
        try:
            wait_open(c, CAP)
            t0 = time.monotonic()
            with _connect(locked_srv.url) as extra:
                status, body = _status_and_body(_read_to_eof(extra))
            assert time.monotonic() - t0 < 2, "a refusal is immediate"
            assert status == 503 and body["error"]["code"] == "too_many_connections" and "--max-connections" in body["error"]["message"]
            text = wait_open(c, CAP)
            assert _metric(text, refused) == before + 1
        finally:
            for sock in held:
                sock.close()
        wait_open(c, 1)
        assert c.post("/v1/entities", json={"text": "زار محمد القاهرة"}).status_code == 200
