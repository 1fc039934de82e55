"""In-process checks of `create_app` for paths a real server rarely shows on
demand: loading failures, the request timeout, and readiness before warm-up."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from kashif.model.predictor import Predictor, PredictorConfig
from kashif.serve.http.app import create_app
from kashif.serve.http.settings import ServeSettings


async def _with_app(app, scenario):
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kashif") as client:
            return await scenario(client, app.state.kashif)


async def _until(predicate, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_load_failure_is_reported_not_ready(tmp_path):
    (tmp_path / "ner").mkdir()
    app = create_app(ServeSettings(model=str(tmp_path)))

    async def scenario(client, state):
        await _until(lambda: state.load_error is not None)
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "model_load_failed"
        message = ready.json()["error"]["message"]
        assert "config.json is missing" in message and "…/ner" in message
        assert str(tmp_path) not in message, "no server path in a public answer"
        assert str(tmp_path) in state.load_error, "the operator's log keeps it"
        failed = await client.post("/v1/entities", json={"text": "نص"})
        assert failed.status_code == 503 and failed.json()["error"]["code"] == "model_load_failed"
        assert str(tmp_path) not in failed.text

    asyncio.run(_with_app(app, scenario))


def test_request_timeout_answers_504_and_the_server_goes_on(tiny_bundle_dir, arabic_sentences):
    predictor = Predictor.from_refs(str(tiny_bundle_dir))
    app = create_app(ServeSettings(request_timeout_s=0.001), predictor=predictor)
    long_text = " ".join(arabic_sentences[:40])

    async def scenario(client, state):
        await _until(lambda: state.ready)
        slow = await client.post("/v1/entities", json={"text": long_text})
        assert slow.status_code == 504 and slow.json()["error"]["code"] == "timeout"
        state.settings.request_timeout_s = 60
        assert (await client.post("/v1/entities", json={"text": long_text})).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert 'route="/v1/entities",status="504"' in metrics

    asyncio.run(_with_app(app, scenario))


def test_not_ready_until_warm_up_is_done(tiny_bundle_dir):
    predictor = Predictor.from_refs(str(tiny_bundle_dir))
    app = create_app(ServeSettings(), predictor=predictor)

    async def scenario(client, state):
        # The lifespan has only started loading; the warm-up runs in the inference thread.
        early = await client.get("/readyz")
        if not state.ready:
            assert early.status_code == 503 and early.headers["retry-after"] == "1"
        await _until(lambda: state.ready)
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready", "models": ["ner", "stance"]}
        assert "kashif_ready 1.0" in (await client.get("/metrics")).text

    asyncio.run(_with_app(app, scenario))


def test_process_and_thread_inference_answer_alike(tiny_bundle_dir, arabic_sentences):
    from kashif.serve.http.inference_process import PredictorProcess

    answers = {}
    for mode in ("process", "thread"):
        app = create_app(ServeSettings(model=str(tiny_bundle_dir), inference=mode, predictor=PredictorConfig(threads=1)))

        async def scenario(client, state):
            await _until(lambda: state.ready or state.load_error)
            assert isinstance(state.predictor, PredictorProcess) == (mode == "process"), state.load_error
            entities = await client.post("/v1/entities", json={"texts": arabic_sentences[:6]})
            stance = await client.post("/v1/stance", json={"text": arabic_sentences[0], "target": "القاهرة"})
            models = await client.get("/v1/models")
            return entities.json(), stance.json(), models.json()

        answers[mode] = asyncio.run(_with_app(app, scenario))
    assert answers["process"] == answers["thread"]
    assert len(answers["process"][0]["results"]) == 6


def test_settings_refuse_impossible_values():
    for bad, message in (({"port": 70_000}, "port must be 0..65535"), ({"max_queue_delay_ms": 0}, "max-queue-delay-ms must be positive"),
                         ({"max_queue": 0}, "max-queue must be at least 1"), ({"read_timeout_s": 0}, "read-timeout must be positive"),
                         ({"max_connections": 0}, "max-connections must be at least 1"), ({"metrics_auth": True}, "no key is set")):
        with pytest.raises(ValueError, match=message):
            ServeSettings(**bad)
    assert ServeSettings(request_timeout_s=12).max_queue_delay_s == 12  # default: the request timeout
    assert ServeSettings(max_queue_delay_ms=50).max_queue_delay_s == 0.05
    assert ServeSettings(metrics_auth=True, api_keys=("k",)).metrics_auth
