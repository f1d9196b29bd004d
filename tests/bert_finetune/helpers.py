"""Shared helpers of the ``bert_finetune`` tests: the reference module and the tiny cache."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference" / "bert_finetune" / "classifier.py"


def tiny_cache() -> Path:
    """The tiny offline cache, built in the suite's private NLPGRADE_CACHE."""
    from grader.assignments.bert_finetune import hfcache

    return hfcache.model_cache("tiny")


def load_classifier(path: Path = REFERENCE, name: str = "ref_classifier") -> ModuleType:
    """Import a ``classifier.py`` in this (trusted, test) process, offline on the tiny cache.

    Only tests do this; the grader never runs reference code outside its tests.
    """
    assert os.environ.get("HF_HOME") == str(tiny_cache()), "tests/bert_finetune/conftest.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
