"""The ``bert_finetune`` plug-in: what a run shares and which sandbox each session gets.

Sessions (each holds student code, none holds reference code or a label of a scored part):

- ``student``: the submission + an empty kit + the *tiny* offline cache at ``/hf`` (unit and
  interface tiers: a random 2-layer BERT with the real vocabulary, seconds on a CPU);
- ``quality``: the same with the *real* offline cache (the MiniLM stand-in) and more threads.

In both, ``from_pretrained("bert-base-uncased")`` resolves to the mounted cache offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from grader.assignments.base import Assignment
from grader.assignments.bert_finetune import data as D
from grader.assignments.bert_finetune import hfcache
from grader.assignments.bert_finetune.checks import registry
from grader.assignments.bert_finetune.prepared import Prepared
from grader.assignments.bert_finetune.quality import quality_accuracy
from grader.cachedir import cache_root, owned_dir
from grader.checks import CheckRegistry
from grader.rubric import Rubric

if TYPE_CHECKING:
    from grader.context import GradingContext
    from grader.sandbox import SandboxSpec

HF_MOUNT = "/hf"


def classifier_parameters(snapshot: str) -> int:
    """Parameters of a 2-label ``BertForSequenceClassification`` from the cache's checkpoint."""
    from transformers import BertConfig

    config = BertConfig.from_pretrained(snapshot)
    h, v, i = config.hidden_size, config.vocab_size, config.intermediate_size
    emb = (v + config.max_position_embeddings + config.type_vocab_size) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
    return emb + config.num_hidden_layers * layer + (h * h + h) + (h * 2 + 2)


__all__ = ["BertFinetune", "quality_accuracy"]  # importing quality registers its check


class BertFinetune(Assignment):
    """BERT fine-tuning for movie-review sentiment (MSU NLP course, FILIMDB)."""

    name: ClassVar[str] = "bert_finetune"
    title: ClassVar[str] = "BERT fine-tuning for movie-review sentiment"
    required_files: ClassVar[tuple[str, ...]] = ("classifier.py",)
    optional_files: ClassVar[tuple[str, ...]] = ("report.md", "report.pdf", "curves.png")
    checks: ClassVar[CheckRegistry] = registry
    tier_resources: ClassVar[dict[str, dict[str, float]]] = {"quality": {"GPU": 1}}
    data_settings: ClassVar[tuple[str, ...]] = ("data_dir",)
    preload_modules: ClassVar[tuple[str, ...]] = ("transformers",)
    optional_tiers: ClassVar[tuple[str, ...]] = ("quality",)
    package_extras: ClassVar[tuple[str, ...]] = ("bert-finetune",)

    def prepare(self, rubric: Rubric, *, with_reference: bool) -> Prepared:
        """The offline caches, the interface sample and the parent's own counts."""
        tiny = hfcache.model_cache("tiny")
        snapshot = str(hfcache.snapshot_dir(tiny))
        data_dir = str(rubric.setting("data_dir", ""))
        parts = D.load_parts(data_dir)
        kit = owned_dir(cache_root() / "kits" / f"{self.name}-empty", mode=0o755)
        sample = D.interface_sample(parts, int(rubric.setting("interface_train", 64)),
                                    int(rubric.setting("interface_eval", 32)))
        return Prepared(
            kit_dir=kit,
            tiny_cache=tiny,
            snapshot=snapshot,
            sample=sample,
            heldout=D.heldout_texts(parts, sample, int(rubric.setting("heldout_texts", 32))),
            classifier_parameters=classifier_parameters(snapshot),
            data_dir=data_dir,
            parts=parts,
        )

    def worker_env(self, ctx: GradingContext, session: str) -> dict[str, str]:
        """The offline Hugging Face environment (the cache mounted at /hf); the tiny-model
        session also sets ``NLPGRADE_QUICK=1`` (the template shortens its runs with it)."""
        env = hfcache.offline_env(Path(HF_MOUNT))
        if session == "student":
            env["NLPGRADE_QUICK"] = "1"
        return env

    def session_spec(self, ctx: GradingContext, session: str) -> SandboxSpec:
        """The submission, an empty kit and the offline cache of the session's tier at /hf."""
        from grader.sandbox import Limits, SandboxSpec

        prepared: Prepared = ctx.prepared
        if session == "student":
            cache, threads = prepared.tiny_cache, 1
        elif session == "quality":
            cache, threads = prepared.real_cache_dir(), int(ctx.setting("quality_threads", 2))
        else:
            raise RuntimeError(f"unknown session kind {session!r}")
        return SandboxSpec(
            submission_dir=ctx.submission_dir,
            kit_dir=prepared.kit_dir,
            probe_module=self.probe_module,
            extra_ro={HF_MOUNT: cache},
            env=self.worker_env(ctx, session),
            limits=Limits(cpu_s=float(ctx.setting("unit_cpu_s", 30.0)), memory_mb=4096),
            threads=threads,
        )
