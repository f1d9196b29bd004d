"""Before any test here imports transformers: the hub is off and ``HF_HOME`` is the tiny offline
cache (in the suite's private NLPGRADE_CACHE), so code run in a test process resolves
``bert-base-uncased`` like the sandbox does and never reaches ~/.cache or the network. (No test
module of this folder imports transformers at import time.)"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from grader.assignments.bert_finetune import hfcache


@pytest.fixture(scope="session", autouse=True)
def offline_hf_env() -> Iterator[None]:
    """The offline Hugging Face environment of the tiny cache (built on first use)."""
    env = hfcache.offline_env(hfcache.cache_path("tiny"))
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
