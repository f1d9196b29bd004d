"""What every submission of a ``bert_finetune`` run shares (its own module: the checks and the
plug-in both name it, and the plug-in imports the checks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.assignments.bert_finetune import data as D


@dataclass
class Prepared:
    """What every submission of a run shares."""

    kit_dir: Path
    tiny_cache: Path
    snapshot: str
    sample: D.Sample
    classifier_parameters: int
    data_dir: str = ""
    real_cache: Path | None = None
    parts: dict[str, D.Part] = field(default_factory=dict)  # parent only: labels included
    heldout: list[str] = field(default_factory=list)  # pretrain's MLM loss is scored on these
    info: dict[str, Any] = field(default_factory=dict)

    def real_cache_dir(self) -> Path:
        """The real checkpoint's cache (built on first use: only the quality tier needs it)."""
        from grader.assignments.bert_finetune import hfcache

        if self.real_cache is None:
            self.real_cache = hfcache.model_cache("real")
        return self.real_cache

    def real_snapshot(self) -> Path:
        """The snapshot folder of the real checkpoint (the parent loads it by path)."""
        from grader.assignments.bert_finetune import hfcache

        return hfcache.snapshot_dir(self.real_cache_dir())
