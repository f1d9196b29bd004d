"""Tensor comparison with the facts feedback needs: the largest error, where it is, both values."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing a student tensor with an expected one."""

    ok: bool
    shape_ok: bool
    max_abs_error: float
    where: tuple[int, ...] | None
    found: float | None
    expected: float | None
    found_shape: tuple[int, ...]
    expected_shape: tuple[int, ...]

    def location(self, name: str) -> str:
        """``name[0, 2, 5]``-style text for the worst element."""
        if self.where is None:
            return name
        return f"{name}[{', '.join(str(i) for i in self.where)}]"

    def describe(self, name: str) -> str:
        """One sentence for feedback."""
        if not self.shape_ok:
            return (
                f"{name} has shape {list(self.found_shape)}, expected {list(self.expected_shape)}"
            )
        if self.where is None:
            return f"{name} matches (max abs error {self.max_abs_error:.2e})"
        return (
            f"{self.location(name)} is {self.found:.4g}, expected {self.expected:.4g} "
            f"(max abs error {self.max_abs_error:.3g})"
        )


def compare(
    found: torch.Tensor | None,
    expected: torch.Tensor,
    *,
    atol: float,
    rtol: float,
    mask: torch.Tensor | None = None,
) -> Comparison:
    """Compare elementwise with ``|found - expected| <= atol + rtol * |expected|``.

    ``mask`` (broadcastable, bool) limits the comparison to the elements that matter. NaN in
    ``found`` counts as an infinite error.
    """
    exp_shape = tuple(expected.shape)
    if found is None or tuple(found.shape) != exp_shape:
        shape = tuple(found.shape) if found is not None else ()
        return Comparison(False, False, float("inf"), None, None, None, shape, exp_shape)
    f = found.detach().double()
    e = expected.detach().double()
    err = (f - e).abs()
    err = torch.where(torch.isnan(err), torch.full_like(err, float("inf")), err)
    excess = err - (atol + rtol * e.abs())
    if mask is not None:
        m = mask.expand_as(err)
        err = torch.where(m, err, torch.zeros_like(err))
        excess = torch.where(m, excess, torch.full_like(excess, -1.0))
    max_err = float(err.max()) if err.numel() else 0.0
    if err.numel() == 0 or float(excess.max()) <= 0:
        return Comparison(True, True, max_err, None, None, None, exp_shape, exp_shape)
    flat = int(torch.argmax(excess))
    where = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), err.shape))
    return Comparison(
        False, True, max_err, where, float(f[where]), float(e[where]), exp_shape, exp_shape
    )


def close(a: torch.Tensor | None, b: torch.Tensor, *, atol: float, rtol: float) -> bool:
    """Whether two tensors match under the same rule as ``compare``."""
    return compare(a, b, atol=atol, rtol=rtol).ok
