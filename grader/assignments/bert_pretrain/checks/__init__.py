"""Trusted-side checks for CS310 A6, one module per seam; importing this fills ``registry``.

Modules register in ``ORDER`` (a check may depend only on earlier ones): files, structure, tying,
heads and masks, reference, checkpoint, loop. Property checks need no reference and also run in
``precheck``; reference checks compare with the instructor's solution, run in the parent.
"""

import importlib

from grader.assignments.bert_pretrain.checks.common import registry

ORDER = ("files", "structure", "tying", "heads", "reference", "checkpoint", "loop")
for _name in ORDER:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["ORDER", "registry"]
