"""The probe matrix of ``mlm_step``: shapes, seeds, mask ids and learning rates, and their inputs.

Inputs are built in the trusted parent from a seeded generator, so a grade is repeatable; the
same builder serves the oracle (parent) and the probes (sent to the sandbox as tensors).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

BLOCK_PARTS = ("w_q", "w_k", "w_v", "w_o", "w_mlp1", "w_mlp2")
ATTENTION_PARTS = ("w_q", "w_k", "w_v", "w_o")
FFN_PARTS = ("w_mlp1", "w_mlp2")


@dataclass(frozen=True)
class Case:
    """One call of the student's step: shape, masking seed, mask id, learning rate."""

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

    @property
    def key(self) -> str:
        """A short readable label used in messages ("N=3 T=5 V=11 d=12 blocks=1 heads=3 ...")."""
        return (
            f"N={self.n} T={self.t} V={self.v} d={self.d} blocks={self.blocks} "
            f"heads={self.heads} seed={self.seed} mask_token_id={self.mask_id} lr={self.lr}"
        )

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


def num_selected(token_ids_shape: tuple[int, int], seed: int) -> int:
    """How many positions the assignment's masking selects for this shape and seed."""
    gen = torch.Generator().manual_seed(seed)
    return int((torch.rand(*token_ids_shape, generator=gen) < 0.15).sum())


def build_inputs(case: Case, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The probe inputs of ``case``: token ids, embeddings, stacked block weights, head."""
    gen = torch.Generator().manual_seed(10_000 + 97 * case.data_seed + case.v * 7 + case.d)
    d = case.d
    token_ids = torch.randint(0, case.v, (case.n, case.t), generator=gen)
    w_emb = torch.randn(case.v, d, generator=gen, dtype=torch.float64)
    pos = 0.5 * torch.randn(case.t, d, generator=gen, dtype=torch.float64)
    blocks = torch.randn(case.blocks, 6, d, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
    w_head = torch.randn(d, case.v, generator=gen, dtype=torch.float64) / math.sqrt(d)
    return {
        "token_ids": token_ids,
        "w_emb": w_emb.to(dtype),
        "pos_embed": pos.to(dtype),
        "blocks": blocks.to(dtype),
        "w_head": w_head.to(dtype),
    }


def unstack_blocks(blocks: torch.Tensor) -> list[list[torch.Tensor]]:
    """(nb, 6, d, d) -> the assignment's list of lists of (d, d) tensors (independent copies)."""
    return [[blocks[i, j].clone() for j in range(6)] for i in range(blocks.shape[0])]


def flat_inputs(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The inputs flattened in the output's order (float64), to turn outputs into updates."""
    parts = [inputs["w_emb"], inputs["pos_embed"], inputs["blocks"], inputs["w_head"]]
    return torch.cat([p.double().reshape(-1) for p in parts])


def _valid(case: Case) -> bool:
    return num_selected((case.n, case.t), case.seed) > 0


def _first_valid(case: Case) -> Case:
    """``case`` with the smallest seed >= its own that selects at least one position."""
    seed = case.seed
    while num_selected((case.n, case.t), seed) == 0:
        seed += 1
    return Case(**{**asdict(case), "seed": seed})


BASE = _first_valid(Case(n=2, t=8, v=17, d=16, blocks=2, heads=4, seed=0, mask_id=16))


def update_matrix() -> list[Case]:
    """The lr = 1 cases on which every parameter's update is judged (odd shapes included)."""
    raw = [
        BASE,
        Case(n=3, t=5, v=11, d=12, blocks=1, heads=3, seed=1, mask_id=10),
        Case(n=3, t=5, v=11, d=12, blocks=1, heads=3, seed=7, mask_id=0, data_seed=1),
        Case(n=2, t=6, v=13, d=8, blocks=0, heads=2, seed=3, mask_id=12),
        Case(n=4, t=7, v=19, d=10, blocks=2, heads=1, seed=5, mask_id=0, data_seed=2),
        Case(n=1, t=9, v=23, d=24, blocks=3, heads=6, seed=11, mask_id=22, data_seed=3),
        Case(n=3, t=4, v=7, d=6, blocks=1, heads=2, seed=2, mask_id=6, data_seed=4),
    ]
    return [_first_valid(c) for c in raw]


def value_matrix() -> list[Case]:
    """The cases of the whole-output check: the update matrix plus lr = 0.1 variants."""
    extra = [Case(**{**asdict(c), "lr": 0.1}) for c in update_matrix()[:3]]
    return update_matrix() + extra


def other_seed(case: Case) -> Case:
    """``case`` with another masking seed (for "another seed gives another result")."""
    return _first_valid(Case(**{**asdict(case), "seed": case.seed + 1000}))


def fd_cases() -> list[Case]:
    """The cases of the finite-difference self-check (run in float64)."""
    return [BASE, update_matrix()[1], update_matrix()[3]]
