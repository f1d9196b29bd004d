"""Writes tests/zoo/bert_pretrain/hostile_zip_bomb_checkpoint/bert_model.pt: ~1 MiB on disk, a
deflated tensor record that inflates to 1 GiB (over the rubric's 600 MiB). An unguarded
torch.load in the grader would allocate all of it; safeload refuses it unread.

Run from the repository root: python tests/zoo/bert_pretrain/make_zip_bomb_checkpoint.py
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from tests.sandbox.zipbomb import deflate_bomb  # noqa: E402

deflate_bomb(ROOT / "tests/zoo/bert_pretrain/hostile_zip_bomb_checkpoint/bert_model.pt", 1024)
