"""Student ids: unique, and stable whatever the order or the case of the folders.

An id is the slug of the upload's name (``alice``). When several uploads slug to the same id
(``correct_1`` and ``CORRECT_1``, ``alice/`` and ``alice.zip``), the one whose name *is* the id
keeps it only if it is the only such upload; every other one gets the id plus a short hash of its
own name (``correct_1-3f9a2c``), which depends on nothing else, so adding, removing or reordering
folders never moves a grade to another row. Every row of a collision carries a warning naming all
of them: a collision is never a silent takeover.
"""

from __future__ import annotations

import hashlib
import os

from .names import display
from .staging import Plan


def _name(plan: Plan) -> bytes:
    """The upload's own name as it is on disk (a zip without its ``.zip``)."""
    raw = plan.sort_key
    return raw[:-4] if plan.layout == "zip" and raw.lower().endswith(b".zip") else raw


def _suffixed(plan: Plan, taken: set[str]) -> str:
    """``base-<hash of the upload's name and layout>``, lengthened until it is free."""
    digest = hashlib.sha256(plan.layout.encode() + b"\0" + plan.sort_key).hexdigest()
    for width in range(6, len(digest) + 1, 2):
        sid = f"{plan.base_id}-{digest[:width]}"
        if sid not in taken:
            return sid
    raise AssertionError("sha256 prefixes of distinct names collided")  # pragma: no cover


def unique_ids(plans: list[Plan]) -> list[tuple[str, Plan]]:
    """Give every plan a unique, order-independent id; note collisions on every row involved."""
    groups: dict[str, list[Plan]] = {}
    for plan in plans:
        groups.setdefault(plan.base_id, []).append(plan)
    taken = set(groups)  # every bare id is reserved for its own group
    out: list[tuple[str, Plan]] = []
    for base in sorted(groups):
        group = sorted(groups[base], key=lambda p: (p.sort_key, p.layout))
        if len(group) == 1:
            out.append((base, group[0]))
            continue
        exact = [p for p in group if os.fsdecode(_name(p)) == base]
        keeper = exact[0] if len(exact) == 1 else None
        sources = "; ".join(p.source for p in group)
        for plan in group:
            sid = base if plan is keeper else _suffixed(plan, taken)
            taken.add(sid)
            plan.notes.append(
                f"{len(group)} uploads map to the student id '{base}' ({display(sources)}). "
                f"This one ({plan.source}) was graded as '{sid}'. Check that each row is the "
                "right student's before publishing grades."
            )
            out.append((sid, plan))
    return out
