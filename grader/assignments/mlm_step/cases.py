"""The probe matrix of ``mlm_step``: shapes, seeds, mask ids, scales and learning rates.

Inputs are built in the trusted parent from a seeded generator, so a grade is repeatable; the
same builder serves the oracle (parent) and the probes (sent to the sandbox as tensors).
What the matrix exercises (every masking branch, head counts, block counts, small activations,
...) is computed from the cases themselves by ``coverage()``; ``tests/mlm_step`` fails when a
feature of ``FEATURES`` is not covered.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

BLOCK_PARTS = ("w_q", "w_k", "w_v", "w_o", "w_mlp1", "w_mlp2")
ATTENTION_PARTS = ("w_q", "w_k", "w_v", "w_o")
FFN_PARTS = ("w_mlp1", "w_mlp2")
MASK_RATE, MASK_SHARE, RANDOM_SHARE = 0.15, 0.8, 0.1
LN_EPS = 1e-5


@dataclass(frozen=True)
class Case:
    """One call of the student's step: shape, masking seed, mask id, learning rate, scale.

    ``scale`` shrinks the embeddings (``w_emb`` and ``pos_embed``): the first layer norm then
    sees rows whose variance is comparable to eps, so a wrong eps changes the whole step.
    """

    n: int
    t: int
    v: int
    d: int
    blocks: int
    heads: int
    seed: int
    mask_id: int
    lr: float = 1.0
    data_seed: int = 0
    scale: float = 1.0

    @property
    def key(self) -> str:
        """A short readable label used in messages ("N=3 T=5 V=11 d=12 blocks=1 heads=3 ...")."""
        text = (
            f"N={self.n} T={self.t} V={self.v} d={self.d} blocks={self.blocks} "
            f"heads={self.heads} seed={self.seed} mask_token_id={self.mask_id} lr={self.lr}"
        )
        return text if self.scale == 1.0 else f"{text} (small activations, x{self.scale:g})"

    def params(self) -> dict[str, object]:
        """The JSON parameters of the probe call."""
        return {"mask_token_id": self.mask_id, "num_heads": self.heads, "lr": self.lr,
                "seed": self.seed}

    def as_dict(self) -> dict[str, object]:
        """All fields (for result details)."""
        return asdict(self)

    def part_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """Every parameter of the flattened output, in order, with its shape."""
        parts: list[tuple[str, tuple[int, ...]]] = [
            ("w_emb", (self.v, self.d)), ("pos_embed", (self.t, self.d))
        ]
        for i in range(self.blocks):
            parts.extend((f"blocks[{i}].{name}", (self.d, self.d)) for name in BLOCK_PARTS)
        parts.append(("w_head", (self.d, self.v)))
        return parts

    @property
    def length(self) -> int:
        """Expected length of the returned vector."""
        return sum(math.prod(shape) for _, shape in self.part_shapes())


@dataclass(frozen=True)
class Draws:
    """The three masking draws of a case, exactly as the assignment specifies them."""

    select: torch.Tensor
    corrupt: torch.Tensor
    random_tokens: torch.Tensor

    @property
    def selected(self) -> torch.Tensor:
        """Positions that are predicted."""
        return self.select < MASK_RATE


def draws(case: Case) -> Draws:
    """``rand``, ``rand``, ``randint`` from one ``Generator`` seeded with the case's seed."""
    gen = torch.Generator().manual_seed(case.seed)
    select = torch.rand(case.n, case.t, generator=gen)
    corrupt = torch.rand(case.n, case.t, generator=gen)
    random_tokens = torch.randint(0, case.v, (case.n, case.t), generator=gen)
    return Draws(select, corrupt, random_tokens)


def num_selected(token_ids_shape: tuple[int, int], seed: int) -> int:
    """How many positions the assignment's masking selects for this shape and seed."""
    gen = torch.Generator().manual_seed(seed)
    return int((torch.rand(*token_ids_shape, generator=gen) < MASK_RATE).sum())


def _raw_inputs(case: Case) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(10_000 + 97 * case.data_seed + case.v * 7 + case.d)
    d = case.d
    token_ids = torch.randint(0, case.v, (case.n, case.t), generator=gen)
    w_emb = torch.randn(case.v, d, generator=gen, dtype=torch.float64)
    pos = 0.5 * torch.randn(case.t, d, generator=gen, dtype=torch.float64)
    blocks = torch.randn(case.blocks, 6, d, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
    w_head = torch.randn(d, case.v, generator=gen, dtype=torch.float64) / math.sqrt(d)
    w_emb, pos = w_emb * case.scale, pos * case.scale
    return {"token_ids": token_ids, "w_emb": w_emb, "pos_embed": pos, "blocks": blocks,
            "w_head": w_head}


def build_inputs(case: Case, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The probe inputs of ``case``: token ids, embeddings, stacked block weights, head."""
    raw = _raw_inputs(case)
    return {k: v if k == "token_ids" else v.to(dtype) for k, v in raw.items()}


def unstack_blocks(blocks: torch.Tensor) -> list[list[torch.Tensor]]:
    """(nb, 6, d, d) -> the assignment's list of lists of (d, d) tensors (independent copies)."""
    return [[blocks[i, j].clone() for j in range(6)] for i in range(blocks.shape[0])]


def flat_inputs(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The inputs flattened in the output's order (float64), to turn outputs into updates."""
    parts = [inputs["w_emb"], inputs["pos_embed"], inputs["blocks"], inputs["w_head"]]
    return torch.cat([p.double().reshape(-1) for p in parts])


# -- coverage -----------------------------------------------------------------------------------
def branch_counts(case: Case, tokens: torch.Tensor | None = None) -> dict[str, int]:
    """How many positions of ``case`` take each branch of the masking.

    ``random_new``: the random token differs from the original and from the mask id, so a step
    that keeps the original or writes the mask id there is wrong; ``kept``: selected, left as it
    is, and not already the mask id, so a step that masks it is wrong.
    """
    if tokens is None:
        tokens = _raw_inputs(case)["token_ids"]
    dr = draws(case)
    sel = dr.selected
    masked = sel & (dr.corrupt < MASK_SHARE)
    rand = sel & (dr.corrupt >= MASK_SHARE) & (dr.corrupt < MASK_SHARE + RANDOM_SHARE)
    kept = sel & (dr.corrupt >= MASK_SHARE + RANDOM_SHARE)
    new = (dr.random_tokens != tokens) & (dr.random_tokens != case.mask_id)
    return {
        "masked": int(masked.sum()),
        "random_new": int((rand & new).sum()),
        "kept": int((kept & (tokens != case.mask_id)).sum()),
        "unselected": int((~sel).sum()),
    }


def _near(case: Case, lo: float, hi: float, *, on: str) -> bool:
    dr = draws(case)
    if on == "select":
        return bool(((dr.select >= lo) & (dr.select < hi)).any())
    return bool((dr.selected & (dr.corrupt >= lo) & (dr.corrupt < hi)).any())


def ln_input_variance(case: Case) -> float:
    """The median row variance of the first layer norm's input (embedding + position)."""
    raw = _raw_inputs(case)
    x = raw["w_emb"][raw["token_ids"]] + raw["pos_embed"]
    return float(x.var(dim=-1, unbiased=False).median())


# name -> (what it guards against, predicate on one case)
FEATURES: dict[str, tuple[str, Callable[[Case], bool]]] = {
    "mask.masked": ("selected and replaced by the mask id",
                    lambda c: branch_counts(c)["masked"] > 0),
    "mask.random_new": ("selected and replaced by a random token that is neither the original "
                        "nor the mask id", lambda c: branch_counts(c)["random_new"] > 0),
    "mask.kept": ("selected and kept (and not the mask id already)",
                  lambda c: branch_counts(c)["kept"] > 0),
    "mask.unselected": ("not selected", lambda c: branch_counts(c)["unselected"] > 0),
    "rate.just_above": ("a select draw in [0.15, 0.2): a larger mask rate selects it",
                        lambda c: _near(c, 0.15, 0.2, on="select")),
    "rate.just_below": ("a select draw in [0.1, 0.15): a smaller mask rate drops it",
                        lambda c: _near(c, 0.1, 0.15, on="select")),
    "split.below_0.8": ("selected, corrupt draw in [0.7, 0.8)",
                        lambda c: _near(c, 0.7, 0.8, on="corrupt")),
    "split.above_0.8": ("selected, corrupt draw in [0.8, 0.85)",
                        lambda c: _near(c, 0.8, 0.85, on="corrupt")),
    "split.below_0.9": ("selected, corrupt draw in [0.85, 0.9)",
                        lambda c: _near(c, 0.85, 0.9, on="corrupt")),
    "split.above_0.9": ("selected, corrupt draw in [0.9, 0.95)",
                        lambda c: _near(c, 0.9, 0.95, on="corrupt")),
    "heads.one": ("a single head", lambda c: c.heads == 1 and c.blocks > 0),
    "heads.even": ("an even head count > 1", lambda c: c.heads > 1 and c.heads % 2 == 0
                   and c.blocks > 0),
    "heads.odd": ("an odd head count > 1", lambda c: c.heads > 1 and c.heads % 2 == 1
                  and c.blocks > 0),
    "heads.many": ("more than 4 heads", lambda c: c.heads > 4 and c.blocks > 0),
    "blocks.zero": ("no transformer block", lambda c: c.blocks == 0),
    "blocks.one": ("one block", lambda c: c.blocks == 1),
    "blocks.many": ("three or more blocks", lambda c: c.blocks >= 3),
    "mask_id.zero": ("mask id 0", lambda c: c.mask_id == 0),
    "mask_id.last": ("mask id V - 1", lambda c: c.mask_id == c.v - 1),
    "mask_id.middle": ("a mask id that is neither 0 nor V - 1",
                       lambda c: 0 < c.mask_id < c.v - 1),
    "mask_id.in_input": ("the mask id also occurs as an original token",
                         lambda c: bool((_raw_inputs(c)["token_ids"] == c.mask_id).any())),
    "batch.one_row": ("N = 1", lambda c: c.n == 1),
    "emb.repeated_id": ("one id at several positions (the embedding gradient accumulates)",
                        lambda c: _raw_inputs(c)["token_ids"].unique().numel() < c.n * c.t),
    "activation.small": ("layer-norm inputs whose row variance is under 100 x eps, where eps "
                         "matters", lambda c: c.blocks > 0 and ln_input_variance(c) < 100 * LN_EPS),
    "activation.unit": ("layer-norm inputs of unit scale",
                        lambda c: c.blocks > 0 and ln_input_variance(c) > 0.1),
}


def coverage(cases: list[Case]) -> dict[str, list[Case]]:
    """For every feature of ``FEATURES``, the cases of ``cases`` that exercise it."""
    return {name: [c for c in cases if pred(c)] for name, (_, pred) in FEATURES.items()}


def missing_coverage(cases: list[Case]) -> list[str]:
    """The features that no case of ``cases`` exercises (empty for the grading matrix)."""
    return [name for name, covering in coverage(cases).items() if not covering]


def _covering(case: Case) -> Case:
    """``case`` with the smallest seed >= its own whose masking takes every branch.

    At least two positions are masked (the most frequent branch keeps its usual weight).
    """
    tokens = _raw_inputs(case)["token_ids"]
    seed = case.seed
    while True:
        candidate = dataclasses.replace(case, seed=seed)
        counts = branch_counts(candidate, tokens)
        if counts["masked"] >= 2 and all(n > 0 for n in counts.values()):
            return candidate
        seed += 1


def _first_valid(case: Case) -> Case:
    """``case`` with the smallest seed >= its own that selects at least one position."""
    seed = case.seed
    while num_selected((case.n, case.t), seed) == 0:
        seed += 1
    return dataclasses.replace(case, seed=seed)


_RAW = (
    Case(n=2, t=8, v=17, d=16, blocks=2, heads=4, seed=0, mask_id=16),
    Case(n=3, t=5, v=11, d=12, blocks=1, heads=3, seed=1, mask_id=10),
    Case(n=3, t=5, v=11, d=12, blocks=1, heads=3, seed=7, mask_id=0, data_seed=1),
    Case(n=2, t=6, v=13, d=8, blocks=0, heads=2, seed=3, mask_id=12),
    Case(n=4, t=7, v=19, d=10, blocks=2, heads=1, seed=5, mask_id=0, data_seed=2),
    Case(n=1, t=9, v=23, d=24, blocks=3, heads=6, seed=11, mask_id=22, data_seed=3),
    Case(n=3, t=4, v=7, d=6, blocks=1, heads=2, seed=2, mask_id=6, data_seed=4),
    Case(n=3, t=6, v=13, d=12, blocks=2, heads=3, seed=4, mask_id=5, data_seed=5,
         scale=0.02),
    Case(n=4, t=12, v=29, d=16, blocks=1, heads=2, seed=16, mask_id=9, data_seed=6),
)


BASE = _covering(_RAW[0])


@functools.cache
def _update_matrix() -> tuple[Case, ...]:
    return tuple(_covering(c) for c in _RAW)


def update_matrix() -> list[Case]:
    """The lr = 1 cases on which every parameter's update is judged (odd shapes included).

    Every case takes every branch of the masking (its seed is the first one that does).
    """
    return list(_update_matrix())


def value_matrix() -> list[Case]:
    """The cases of the whole-output check: the update matrix plus lr = 0.1 variants."""
    extra = [dataclasses.replace(c, lr=0.1) for c in update_matrix()[:3]]
    return update_matrix() + extra


def other_seed(case: Case) -> Case:
    """``case`` with another masking seed (for "another seed gives another result")."""
    return _first_valid(dataclasses.replace(case, seed=case.seed + 1000))


def fd_cases() -> list[Case]:
    """The cases of the finite-difference self-check (run in float64)."""
    m = update_matrix()
    return [BASE, m[1], m[3], m[7]]


def small_activation_case() -> Case:
    """The case of the update matrix whose layer norms see small-variance rows."""
    return next(c for c in update_matrix() if c.scale != 1.0)


def expected_masking(case: Case, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The assignment's ``(corrupted ids, selected)`` for ``tokens`` under ``case``'s seed."""
    dr = draws(case)
    sel = dr.selected
    out = tokens.clone()
    masked = sel & (dr.corrupt < MASK_SHARE)
    rand = sel & (dr.corrupt >= MASK_SHARE) & (dr.corrupt < MASK_SHARE + RANDOM_SHARE)
    out[masked] = case.mask_id
    out[rand] = dr.random_tokens[rand]
    return out, sel
