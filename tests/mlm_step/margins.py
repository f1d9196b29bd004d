"""Measure every mlm_step tolerance against the zoo: how far the nearest correct and buggy are.

For each zoo submission that runs in this process (under the grader's runtime guard, so a step
that calls autograd is left out, as it crashes when graded), every tolerance-judged check gets its
error as a multiple of the tolerance: the loss (``loss_rtol``), each update item
(``update_rtol``), the whole output (``value_rtol``/``value_atol``) and the self-check
(``fd_rtol``). A check that ``expected.toml`` says passes must sit at least ``MIN_MARGIN`` times
under its tolerance, one it says fails at least ``MIN_MARGIN`` times over.

``python -m tests.mlm_step.margins`` rewrites ``tests/zoo/mlm_step/MARGINS.md``.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

import grader.worker
from grader.assignments.mlm_step import cases as C
from grader.assignments.mlm_step import load_oracle, oracle_results
from grader.assignments.mlm_step.judge import (
    fd_coords,
    fd_errors,
    loss_error,
    part_errors,
    short,
    value_excess,
)
from grader.compat import tomllib
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "tests" / "zoo" / "mlm_step"
TABLE = ZOO / "MARGINS.md"
MIN_MARGIN = 5.0
GROUPS = {
    "update.w_head": {"w_head"}, "update.w_emb": {"w_emb"}, "update.pos_embed": {"pos_embed"},
    "update.attention": set(C.ATTENTION_PARTS), "update.ffn": set(C.FFN_PARTS),
}
TOLERANCES = {  # tolerance -> the checks it decides
    "loss_rtol": ["forward.loss"],
    "update_rtol": list(GROUPS),
    "value_rtol/value_atol": ["values.output"],
    "fd_rtol": ["selfcheck.fd"],
}


@dataclass(frozen=True)
class Measure:
    """One (submission, check): its error as a multiple of the tolerance, and its verdict."""

    variant: str
    check: str
    ratio: float
    fails: bool


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"zoo_{path.parent.name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _guard() -> Any:
    sys.modules.setdefault("nlpgrade_worker", grader.worker)
    probes = importlib.import_module("grader.assignments.mlm_step.probes")
    return probes._Guard(str(ZOO))


def _args(case: C.Case, dtype: torch.dtype = torch.float32) -> tuple[dict, list]:
    i = C.build_inputs(case, dtype)
    return i, C.unstack_blocks(i["blocks"])


def _step(mod: ModuleType, case: C.Case, dtype: torch.dtype = torch.float32,
          lr: float | None = None) -> torch.Tensor:
    i, blocks = _args(case, dtype)
    return mod.train_mlm_pretraining_step(
        i["token_ids"], i["w_emb"], i["pos_embed"], blocks, i["w_head"], case.mask_id,
        case.heads, case.lr if lr is None else lr, case.seed)


def _loss(mod: ModuleType, case: C.Case, params: list[torch.Tensor], tokens: torch.Tensor
          ) -> float:
    nb = (len(params) - 3) // 6
    value = mod.mlm_loss(tokens, params[0], params[1],
                         [params[2 + 6 * b: 8 + 6 * b] for b in range(nb)], params[-1],
                         case.mask_id, case.heads, case.seed)
    return float(torch.as_tensor(value).double().reshape(-1)[0])


def measure_variant(mod: ModuleType, oracle: dict[C.Case, Any], settings: dict[str, Any]
                    ) -> dict[str, float]:
    """Every tolerance-judged check's worst error over its cases, in units of its tolerance."""
    out: dict[str, float] = {}
    loss = 0.0
    parts: dict[str, float] = dict.fromkeys(GROUPS, 0.0)
    for case in C.update_matrix():
        i, blocks = _args(case)
        got = float(mod.mlm_loss(i["token_ids"], i["w_emb"], i["pos_embed"], blocks, i["w_head"],
                                 case.mask_id, case.heads, case.seed))
        loss = max(loss, loss_error(got, oracle[case].loss))
        for e in part_errors(case, _step(mod, case).double(), oracle[case].updated):
            for check, names in GROUPS.items():
                if short(e.name) in names:
                    parts[check] = max(parts[check], e.rel)
    out["forward.loss"] = loss / float(settings["loss_rtol"])
    out.update({k: v / float(settings["update_rtol"]) for k, v in parts.items()})
    out["values.output"] = max(
        value_excess(_step(mod, c).double(), oracle[c].updated, float(settings["value_rtol"]),
                     float(settings["value_atol"]))[0] for c in C.value_matrix())
    fd = 0.0
    h, rtol = float(settings["fd_h"]), float(settings["fd_rtol"])
    for case in C.fd_cases():
        i, _ = _args(case, torch.float64)
        coords = fd_coords(case, int(settings["fd_per_part"]))
        step = _step(mod, case, torch.float64, lr=1.0).double()
        base = [i["w_emb"], i["pos_embed"], *[w for b in C.unstack_blocks(i["blocks"])
                                              for w in b], i["w_head"]]
        plus, minus = [], []
        for part, index in coords:
            for sign, sink in ((1.0, plus), (-1.0, minus)):
                params = [t.clone() for t in base]
                params[part].view(-1)[index] += sign * h
                sink.append(_loss(mod, case, params, i["token_ids"]))
        errors = fd_errors(case, coords, step, C.flat_inputs(i),
                           torch.tensor(plus, dtype=torch.float64),
                           torch.tensor(minus, dtype=torch.float64), h, rtol)
        fd = max(fd, *(e.ratio for e in errors))
    out["selfcheck.fd"] = fd
    return out


def measure_zoo() -> list[Measure]:
    """Measure every zoo submission that runs here; verdicts from ``expected.toml``."""
    rubric = load_rubric(ROOT / "rubrics" / "mlm_step.toml")
    oracle = oracle_results(load_oracle(ROOT / "reference" / "mlm_step"), C.value_matrix())
    expected = tomllib.loads((ZOO / "expected.toml").read_text())["cases"]
    measures: list[Measure] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: more threads only wait on each other
    try:
        for name, case in sorted(expected.items()):
            measures += _measure_case(name, case, oracle, rubric.settings)
    finally:
        torch.set_num_threads(threads)
    return measures


def _measure_case(name: str, case: dict[str, Any], oracle: dict[C.Case, Any],
                  settings: dict[str, Any]) -> list[Measure]:
    """The measures of one zoo case (none when its step does not run here)."""
    path = ROOT / case["path"] / "mlm_step.py"
    guard = _guard()
    guard.install()
    try:
        mod = _module(path)
        ratios = measure_variant(mod, oracle, settings)
    except Exception:  # crashes when graded too (syntax, TODO, autograd): nothing to measure
        return []
    finally:
        guard.uninstall()
    return [Measure(name, check, r, check in case["failing"]) for check, r in ratios.items()]


def _fmt(x: float) -> str:
    return "inf" if not math.isfinite(x) else f"{x:.3g}"


def table(measures: list[Measure], settings: dict[str, Any]) -> str:
    """The Markdown table of margins, one row per tolerance."""
    lines = [
        "# mlm_step: margin of every tolerance (generated by `python -m tests.mlm_step.margins`)",
        "",
        "Error of each check as a multiple of its tolerance, over every zoo submission that runs",
        "(`tests/mlm_step/test_margins.py` fails when a margin drops under "
        f"{MIN_MARGIN:g}x or this table is stale).",
        "Margin to correct = tolerance / largest error among checks that must pass; margin to",
        "buggy = smallest error among checks that must fail / tolerance.",
        "",
        "| tolerance | value | nearest correct (submission, check) | error / tol | margin | "
        "nearest buggy (submission, check) | error / tol | margin |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for tol, checks in TOLERANCES.items():
        mine = [m for m in measures if m.check in checks]
        ok = max((m for m in mine if not m.fails), key=lambda m: m.ratio)
        bad = min((m for m in mine if m.fails), key=lambda m: m.ratio)
        value = " / ".join(f"{float(settings[t]):g}" for t in tol.split("/"))
        lines.append(
            f"| `{tol}` | {value} | {ok.variant}, {ok.check} | {_fmt(ok.ratio)} | "
            f"{_fmt(1 / ok.ratio if ok.ratio else math.inf)} | {bad.variant}, {bad.check} | "
            f"{_fmt(bad.ratio)} | {_fmt(bad.ratio)} |")
    eps = [m for m in measures if m.variant in ("eps_1e12", "ref_eps_1e12")]
    if eps:
        loss = min(m.ratio for m in eps if m.check == "forward.loss")
        upd = min(m.ratio for m in eps if m.check in GROUPS)
        lines += ["", f"LayerNorm eps 1e-12 instead of 1e-5 (eps_1e12, ref_eps_1e12): the loss is "
                      f"off by {_fmt(loss)}x `loss_rtol`, every update item by at least "
                      f"{_fmt(upd)}x `update_rtol` (the small-activation case)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Rewrite the table."""
    settings = load_rubric(ROOT / "rubrics" / "mlm_step.toml").settings
    TABLE.write_text(table(measure_zoo(), settings), encoding="utf-8")
    print(TABLE.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
