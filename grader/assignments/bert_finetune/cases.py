"""The fixed inputs of the unit tier: vectorize and head/tail cases, schedules, seeds."""

from __future__ import annotations

import random

from grader.assignments.bert_finetune import reviews


def _review(seed: int, positive: bool, min_words: int = 0) -> str:
    rng = random.Random(seed)
    while True:
        text = reviews.review(rng, positive)
        if len(text.split()) >= min_words:
            return text


NON_ASCII = "Amélie était très naïve — 10/10 😀 ダメ, Björk’s «score» façade"
LONG = _review(7, False, min_words=450)

# (name, text, label, seq_len): the ordinary cases, then the edges
VECTORIZE = [
    ("a short review", "A wonderful film.", "pos", 16),
    ("capitals", "The MOVIE Was GREAT, Honestly!", "neg", 24),
    ("a typical review", _review(5, True, min_words=40), "pos", 64),
    ("a review that fits exactly", "good " * 10, "neg", 12),
]
EDGES = [
    ("a long review (cut to seq_len)", LONG, "neg", 128),
    ("an empty review", "", "neg", 8),
    ("non-ASCII text", NON_ASCII, "pos", 32),
    ("tabs and repeated spaces", "  great\t\tmovie   indeed ", "pos", 10),
]

TWENTY = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen twenty")
# (name, text, head, tail)
HEAD_TAIL = [
    ("head only", TWENTY, 5, 0),
    ("tail only", TWENTY, 0, 5),
    ("head and tail", TWENTY, 3, 4),
    ("shorter than head + tail", "a fine little film", 3, 4),
    ("exactly head + tail", TWENTY, 10, 10),
    ("extra whitespace", "  so   very\tgood, and then   bad  ", 2, 1),
    ("non-ASCII words", NON_ASCII, 2, 2),
]

# (warmup, total): the lr must follow schedule_factor at every step 0..total
SCHEDULES = [(3, 10), (10, 100), (0, 5)]
SCHEDULE_LR = 0.5

ACCUM = {"seed": 11, "n_micro": 6, "batch": 3, "length": 10, "accum": 3}
CLIP = 0.02  # well below the norm of those gradients (~0.1): clipping must show
OPTIMIZER = {"seed": 21, "steps": 2, "lr": 0.01, "weight_decay": 0.5}
MASK_SEED = 31
MASK_ROWS, MASK_SEQ = 64, 128
