from __future__ import annotations

import os

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Servers and scorers started by tests run fp32, so that results compare exactly across
# batch compositions and engines; bf16 (the "auto" default on bf16 CPUs) is tested on its own.
os.environ["KASHIF_PRECISION"] = "fp32"
if "KASHIF_CACHE_DIR" not in os.environ:  # ONNX exports of test models stay out of ~/.cache
    import tempfile

    os.environ["KASHIF_CACHE_DIR"] = tempfile.mkdtemp(prefix="kashif-test-cache-")

import pytest  # noqa: E402

from tests.support.arabic_corpus import all_sentences  # noqa: E402
from tests.support.tiny_models import build_tokenizer, save_tiny_model, save_tiny_multi_label_model  # noqa: E402


@pytest.fixture(scope="session")
def arabic_sentences() -> list[str]:
    return all_sentences()


@pytest.fixture(scope="session")
def tiny_tokenizer(arabic_sentences):
    return build_tokenizer(arabic_sentences)


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory, tiny_tokenizer):
    root = tmp_path_factory.mktemp("bundle")
    save_tiny_model(root / "ner", "ner", tiny_tokenizer, seed=1)
    save_tiny_model(root / "stance", "stance", tiny_tokenizer, seed=2)
    return root


@pytest.fixture(scope="session")
def tiny_ner_dir(tiny_bundle_dir):
    return tiny_bundle_dir / "ner"


@pytest.fixture(scope="session")
def tiny_stance_dir(tiny_bundle_dir):
    return tiny_bundle_dir / "stance"


@pytest.fixture(scope="session")
def tiny_classify_dir(tmp_path_factory, tiny_tokenizer):
    """A plain hub-style sentiment classifier: config.json names BertForSequenceClassification, no kashif.json;
    only --classify-model says what it is."""
    return save_tiny_model(tmp_path_factory.mktemp("sentiment"), "classify", tiny_tokenizer, seed=4, metadata=False)


@pytest.fixture(scope="session")
def tiny_topics_dir(tmp_path_factory, tiny_tokenizer):
    return save_tiny_multi_label_model(tmp_path_factory.mktemp("topics"), tiny_tokenizer, seed=5)


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory, tiny_tokenizer):
    return save_tiny_model(tmp_path_factory.mktemp("encoder"), "mlm", tiny_tokenizer, seed=3)


@pytest.fixture
def one_torch_thread():
    """Tiny models gain nothing from a second thread, and the CI box has two cores to share."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
