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
    info: dict[str, Any] = field(default_factory=dict)
