"""What every submission of one ``bert_pretrain`` run shares: kits, layouts, trusted results."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.assignments.bert_pretrain.kit import Kit
from grader.sandbox import Limits

# Budgets are CPU seconds of the probe's process tree; the wall-clock net is 4x (Limits).
PROBE_LIMITS = Limits(cpu_s=20, memory_mb=3072)  # probes take < 1 s in small
TRAIN_LIMITS = Limits(cpu_s=120, memory_mb=3072)  # the stand-in's 100 batches: ~2 s
EVAL_LIMITS = Limits(cpu_s=120, memory_mb=4096)  # official-size eval: ~15 s


@dataclass
class Prepared:
    """Kits, expected state_dict layouts and the trusted models of one grading run."""

    probe_kit: Kit
    checkpoint_kit: Kit
    probe_config: dict[str, int]
    probe_shapes: dict[str, list[int]]
    checkpoint_shapes: dict[str, list[int]]
    checkpoint_profile: str
    n_eval_batches: int
    n_train_batches: int
    reference_dir: Path | None  # the instructor's solution, run only in the parent
    train_limits: Limits = TRAIN_LIMITS
    eval_limits: Limits = EVAL_LIMITS
    lock: threading.RLock = field(default_factory=threading.RLock)
    memo: dict[str, Any] = field(default_factory=dict)  # trusted results computed once per run
    kit_args: dict[str, Any] = field(default_factory=dict)  # corpus / vocab of this run's kits
    loop_kit_dir: Path | None = None  # the loop check's kit: the probe kit's first loop_batches
    loop_batches: int = 0

    @property
    def kit_hash(self) -> str:
        """Both kits' hashes (part of the result cache key)."""
        return f"{self.probe_kit.hash[:16]}-{self.checkpoint_kit.hash[:16]}"

    def once(self, key: str, compute: Any) -> Any:
        """``compute()`` the first time ``key`` is asked for in this run, then the same value."""
        with self.lock:
            if key not in self.memo:
                self.memo[key] = compute()
            return self.memo[key]

    def use_checkpoint_profile(self, profile: str) -> Kit:
        """Make ``profile``'s kit the checkpoint kit (precheck builds it only when needed)."""
        from grader.assignments.bert_pretrain import inputs as probe_inputs
        from grader.assignments.bert_pretrain.kit import build_kit
        from grader.assignments.bert_pretrain.profiles import get_profile

        with self.lock:
            if self.checkpoint_kit.profile != profile:
                kit = build_kit(profile, **self.kit_args)
                cfg = {**get_profile(profile).config_values(), "VOCAB_SIZE": kit.vocab_size}
                self.checkpoint_kit = kit
                self.checkpoint_shapes = probe_inputs.expected_state_dict(cfg)
                self.checkpoint_profile = profile
                self.n_eval_batches = kit.n_eval_batches
            return self.checkpoint_kit
