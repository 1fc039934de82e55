"""/v1/classify and text classification through a REAL `kashif serve`: the bundle plus a plain hub-style sentiment
model named by --classify-model, and a server with only a multi-label model named by KASHIF_CLASSIFY_MODEL."""
from __future__ import annotations

import re
import signal

import httpx
import pytest

from kashif.model.predictor import Predictor, PredictorConfig
from tests.support.server_fixtures import start_server
from tests.support.tiny_models import SENTIMENT_LABELS, TOPIC_LABELS

TEXTS = ["الخدمة ممتازة وسريعة", "قرار سيئ ومخيب للآمال", "صدر التقرير اليوم"]
SAME_PATH = ("--backend", "torch", "--precision", "fp32")  # the server runs what the local reference runs


@pytest.fixture(scope="module")
def server(tiny_bundle_dir, tiny_classify_dir, tmp_path_factory):
    srv = start_server(["--model", str(tiny_bundle_dir), "--classify-model", str(tiny_classify_dir)], "--max-items", "4",
                       *SAME_PATH,
                       log_dir=tmp_path_factory.mktemp("serve-classify"))
    yield srv
    srv.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def local(tiny_classify_dir):
    return Predictor.from_refs(classify_model=str(tiny_classify_dir), config=PredictorConfig(backend="torch", precision="fp32"))


def test_classify_one_text_and_a_batch(client, local):
    assert client.get("/readyz").json()["models"] == ["ner", "stance", "classify"]
    one = client.post("/v1/classify", json={"text": TEXTS[0]})
    assert one.status_code == 200
    expected = [r.to_dict() for r in local.classify(TEXTS)]
    assert one.json() == {**expected[0], "scores": pytest.approx(expected[0]["scores"], abs=1e-4)}
    assert list(one.json()["scores"]) == sorted(SENTIMENT_LABELS, key=lambda k: -expected[0]["scores"][k])  # best first
    batch = client.post("/v1/classify", json={"texts": TEXTS}).json()["results"]
    assert [r["label"] for r in batch] == [r["label"] for r in expected]
    assert client.post("/v1/classify", json={"texts": []}).json() == {"results": []}


def test_top_k_and_the_pipeline_shape(client, tiny_classify_dir):
    from transformers import pipeline

    top = client.post("/v1/classify", json={"text": TEXTS[1], "top_k": 1}).json()
    assert len(top["scores"]) == 1 and list(top["scores"]) == [top["label"]]
    hf = client.post("/v1/classify", json={"texts": TEXTS[:2], "format": "hf", "top_k": 2}).json()["results"]
    pipe = pipeline("text-classification", model=str(tiny_classify_dir), device="cpu", top_k=2)
    for ours, theirs in zip(hf, pipe(TEXTS[:2])):
        assert [d["label"] for d in ours] == [d["label"] for d in theirs]
        assert [d["score"] for d in ours] == pytest.approx([d["score"] for d in theirs], abs=1e-4)
    assert client.post("/v1/classify", json={"text": TEXTS[0], "format": "hf"}).json()[0].keys() == {"label", "score"}


@pytest.mark.parametrize("body, status, words", [
    ({"text": ""}, 422, "at least 1 character"),
    ({"texts": ["نص", ""]}, 422, "at least 1 character"),
    ({"text": "نص", "texts": ["نص"]}, 422, "not both"),
    ({"text": "نص", "top_k": 0}, 422, "greater than or equal to 1"),
    ({"text": "نص", "format": "displacy"}, 422, "'kashif' or 'hf'"),
    ({"texts": ["نص"] * 5}, 413, "the limit is 4 (--max-items)"),
])
def test_bad_requests_are_4xx_with_a_clear_message(client, body, status, words):
    response = client.post("/v1/classify", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]


def test_analyze_models_metrics_and_openapi(client):
    analyzed = client.post("/v1/analyze", json={"text": TEXTS[0], "targets": ["الخدمة"]}).json()
    assert set(analyzed) == {"entities", "stance", "classify"} and analyzed["classify"]["label"] in SENTIMENT_LABELS
    assert client.post("/v1/analyze", json={"text": ""}).json() == {"entities": [], "stance": []}
    models = {m["task"]: m for m in client.get("/v1/models").json()["models"]}
    assert list(models) == ["ner", "stance", "classify"] and models["classify"]["labels"] == SENTIMENT_LABELS
    assert models["classify"]["multi_label"] is False and "source" not in models["classify"]
    metrics = client.get("/metrics").text
    assert re.search(r'kashif_model_info\{.*task="classify".*\} 1\.0', metrics)
    assert re.search(r'kashif_batch_requests_count\{task="classify"\} [1-9]', metrics)
    assert re.search(r'kashif_http_requests_total\{method="POST",route="/v1/classify",status="200"\} [1-9]', metrics)
    assert "/v1/classify" in client.get("/openapi.json").json()["paths"]
    assert "classify-block" in client.get("/").text  # the demo page shows the label


def test_a_multi_label_model_alone_named_by_its_variable(tiny_topics_dir, tmp_path):
    srv = start_server([], log_dir=tmp_path, env={"KASHIF_CLASSIFY_MODEL": str(tiny_topics_dir), "KASHIF_MULTI_LABEL_THRESHOLD": "0"})
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            assert c.get("/readyz").json()["models"] == ["classify"]
            answer = c.post("/v1/classify", json={"text": TEXTS[0]}).json()
            assert set(answer["scores"]) == set(TOPIC_LABELS) and sorted(answer["labels"]) == sorted(TOPIC_LABELS)
            assert answer["labels"][0] == answer["label"]
            missing = c.post("/v1/entities", json={"text": TEXTS[0]})
            assert missing.status_code == 404 and "--ner-model" in missing.json()["error"]["message"]
            analyzed = c.post("/v1/analyze", json={"text": TEXTS[0]}).json()
            assert analyzed == {"stance": [], "classify": answer}
    finally:
        srv.stop(signal.SIGKILL)
