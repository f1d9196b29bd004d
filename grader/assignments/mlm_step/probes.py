"""Worker-side probes of ``mlm_step`` (run inside the sandbox; stdlib, torch, nlpgrade_worker only).

Each probe calls the student's functions and returns raw outputs; it never judges. While student
code runs, a guard is installed: autograd entry points raise ``ForbiddenCallError`` (the assignment
is to write the backward pass by hand), and the forbidden built-in layers (layer norm, GELU,
softmax, cross-entropy, attention) are recorded; both are reported back as facts with the line of
the student's code that made the call.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from nlpgrade_worker import ProbeContext, probe

MODULE = "mlm_step"
MAX_RECORDS = 20


class ForbiddenCallError(RuntimeError):
    """Raised when student code calls an autograd entry point during a probe."""


class _Guard:
    """Patches forbidden entry points while active; records every call with the student's line."""

    def __init__(self, submission: str) -> None:
        self.submission = submission.rstrip("/") + "/"
        self.records: list[dict[str, str]] = []
        self._restore: list[tuple[Any, str, Any]] = []

    def _where(self) -> str:
        for fs in reversed(traceback.extract_stack()):
            if fs.filename.startswith(self.submission):
                rel = fs.filename[len(self.submission):]
                return f"{rel}:{fs.lineno}: {(fs.line or '').strip()}"
        return "(not in your files)"

    def _record(self, name: str) -> str:
        where = self._where()
        entry = {"call": name, "where": where}
        if entry not in self.records and len(self.records) < MAX_RECORDS:
            self.records.append(entry)
        return where

    def _patch(self, owner: Any, attr: str, name: str, *, raise_: bool) -> None:
        original = getattr(owner, attr, None)
        if original is None:
            return
        guard = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            where = guard._record(name)
            if raise_:
                raise ForbiddenCallError(
                    f"{name} is not allowed in this assignment: autograd would compute the "
                    f"gradients for you; write the backward pass by hand (called at {where})"
                )
            return original(*args, **kwargs)

        self._restore.append((owner, attr, original))
        setattr(owner, attr, wrapper)

    def install(self) -> None:
        """Patch the autograd entry points (raise) and the built-in layers (record)."""
        import torch.autograd.functional as agf
        import torch.func as tfunc
        from torch.autograd.variable import Variable

        raising: list[tuple[Any, str, str]] = [
            (torch.Tensor, "backward", "Tensor.backward()"),
            (torch.autograd, "backward", "torch.autograd.backward"),
            (torch.autograd, "grad", "torch.autograd.grad"),
        ]
        raising += [(agf, n, f"torch.autograd.functional.{n}")
                    for n in ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp")]
        raising += [(tfunc, n, f"torch.func.{n}") for n in (
            "grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "linearize")]
        for owner, attr, name in raising:
            self._patch(owner, attr, name, raise_=True)
        recorded: list[tuple[Any, str, str]] = [
            (F, n, f"torch.nn.functional.{n}") for n in (
                "layer_norm", "gelu", "softmax", "log_softmax", "cross_entropy", "nll_loss",
                "scaled_dot_product_attention", "multi_head_attention_forward")
        ]
        recorded += [(torch, n, f"torch.{n}") for n in ("layer_norm", "softmax", "log_softmax")]
        recorded += [(torch.special, n, f"torch.special.{n}") for n in ("softmax", "log_softmax")]
        recorded += [(torch.Tensor, n, f"Tensor.{n}()") for n in ("softmax", "log_softmax")]
        recorded += [(getattr(torch.nn, c), "forward", f"torch.nn.{c}") for c in (
            "LayerNorm", "GELU", "Softmax", "LogSoftmax", "CrossEntropyLoss", "NLLLoss",
            "MultiheadAttention")]
        for owner, attr, name in recorded:
            self._patch(owner, attr, name, raise_=False)
        # The C++ engine behind every backward()/grad(), even one captured before the patch.
        guard = self

        class _NoEngine:
            def run_backward(self, *args: Any, **kwargs: Any) -> Any:
                where = guard._record("the autograd engine")
                raise ForbiddenCallError(
                    "autograd is not allowed in this assignment: write the backward pass by "
                    f"hand (called at {where})"
                )

        self._restore.append((Variable, "_execution_engine", Variable._execution_engine))
        Variable._execution_engine = _NoEngine()

    def uninstall(self) -> None:
        """Put every patched attribute back."""
        for owner, attr, original in reversed(self._restore):
            setattr(owner, attr, original)
        self._restore.clear()


@contextlib.contextmanager
def guarded(ctx: ProbeContext) -> Iterator[_Guard]:
    """Install the guard for the duration of the block; its records go to the probe's data."""
    guard = _Guard(str(getattr(ctx, "submission", None) or ctx._submission))
    guard.install()
    try:
        yield guard
    finally:
        guard.uninstall()
        ctx.emit({"forbidden": guard.records})


def _blocks(stacked: torch.Tensor) -> list[list[torch.Tensor]]:
    return [[stacked[i, j].clone() for j in range(6)] for i in range(stacked.shape[0])]


def _args(ctx: ProbeContext) -> tuple[dict[str, Any], list[list[torch.Tensor]]]:
    inputs = {k: v.clone() for k, v in ctx.inputs.items()}
    return inputs, _blocks(inputs["blocks"])


def _plain(value: Any) -> tuple[dict[str, Any], torch.Tensor | None]:
    """Facts about a returned value and a plain detached copy when it is a tensor."""
    facts: dict[str, Any] = {"type": type(value).__name__}
    if not isinstance(value, torch.Tensor):
        return facts, None
    t = value.detach().as_subclass(torch.Tensor).clone().contiguous()
    facts.update(dtype=str(t.dtype).removeprefix("torch."), shape=list(t.shape))
    return facts, t


def _call(ctx: ProbeContext, fn_name: str, build: Callable[[Any], Any]) -> Any:
    mod = ctx.import_student(MODULE)
    fn = getattr(mod, fn_name, None)
    if fn is None:
        raise AttributeError(f"{MODULE}.py has no function {fn_name}()")
    return build(fn)


@probe("step")
def step(ctx: ProbeContext) -> None:
    """Call ``train_mlm_pretraining_step`` once; return its output and the inputs afterwards."""
    p = ctx.params
    inputs, blocks = _args(ctx)
    with guarded(ctx):
        out = _call(ctx, "train_mlm_pretraining_step", lambda fn: fn(
            inputs["token_ids"], inputs["w_emb"], inputs["pos_embed"], blocks, inputs["w_head"],
            p["mask_token_id"], p["num_heads"], p["lr"], p["seed"]))
    facts, tensor = _plain(out)
    after = {f"after.{k}": inputs[k] for k in ("token_ids", "w_emb", "pos_embed", "w_head")}
    lists_ok = len(blocks) == inputs["blocks"].shape[0] and all(
        isinstance(b, list) and len(b) == 6 and all(isinstance(w, torch.Tensor) for w in b)
        for b in blocks)
    if lists_ok and blocks:
        after["after.blocks"] = torch.stack([torch.stack([w.detach() for w in b]) for b in blocks])
    if tensor is not None:
        after["out"] = tensor
    ctx.emit({"out": facts, "blocks_list_intact": lists_ok}, after)


@probe("loss")
def loss(ctx: ProbeContext) -> None:
    """Call ``mlm_loss`` once; return the loss it gives."""
    p = ctx.params
    inputs, blocks = _args(ctx)
    with guarded(ctx):
        value = _call(ctx, "mlm_loss", lambda fn: fn(
            inputs["token_ids"], inputs["w_emb"], inputs["pos_embed"], blocks, inputs["w_head"],
            p["mask_token_id"], p["num_heads"], p["seed"]))
    facts, tensor = _plain(value)
    ctx.emit({"loss": facts}, {"loss": tensor} if tensor is not None else None)


@probe("fd")
def finite_differences(ctx: ProbeContext) -> None:
    """The student's update (lr = 1) and their own ``mlm_loss`` at w +/- h for chosen entries.

    ``params["coords"]`` lists ``[part, flat_index]`` with part 0 = w_emb, 1 = pos_embed,
    2 + 6 * block + j = block matrix j, last = w_head. The parent computes the differences.
    """
    p = ctx.params
    h = float(p["h"])
    inputs, blocks = _args(ctx)
    with guarded(ctx):
        mod = ctx.import_student(MODULE)
        out = mod.train_mlm_pretraining_step(
            inputs["token_ids"], inputs["w_emb"], inputs["pos_embed"], blocks, inputs["w_head"],
            p["mask_token_id"], p["num_heads"], 1.0, p["seed"])
        pristine = ctx.inputs  # the step got clones: evaluate the loss around the sent values
        base = [pristine["w_emb"], pristine["pos_embed"],
                *[w for b in _blocks(pristine["blocks"]) for w in b], pristine["w_head"]]
        plus: list[float] = []
        minus: list[float] = []
        dtypes: set[str] = set()
        for part, index in p["coords"]:
            for sign, sink in ((1.0, plus), (-1.0, minus)):
                params = [t.clone() for t in base]
                params[part].view(-1)[index] += sign * h
                nb = len(blocks)
                value = mod.mlm_loss(
                    inputs["token_ids"], params[0], params[1],
                    [params[2 + 6 * i: 8 + 6 * i] for i in range(nb)], params[-1],
                    p["mask_token_id"], p["num_heads"], p["seed"])
                facts, tensor = _plain(value)
                dtypes.add(str(facts.get("dtype", facts["type"])))
                sink.append(float(tensor.double().reshape(-1)[0]) if tensor is not None
                            and tensor.numel() == 1 else float("nan"))
    facts, tensor = _plain(out)
    ctx.emit({"out": facts, "loss_dtypes": sorted(dtypes)},
             {"out": tensor, "loss_plus": torch.tensor(plus, dtype=torch.float64),
              "loss_minus": torch.tensor(minus, dtype=torch.float64)}
             if tensor is not None else None)


def _try(fn: Callable[[], Any]) -> tuple[Any, str | None]:
    try:
        return fn(), None
    except Exception as exc:  # a helper that does not fit is a missing hint, not a failure
        return None, f"{type(exc).__name__}: {exc}"[:200]


@probe("helpers")
def helpers(ctx: ProbeContext) -> None:
    """Call the template's forward helpers on parent-chosen inputs (for feedback only).

    ``mask_tokens``, ``layer_norm`` (small-variance and unit-variance rows), ``gelu`` and
    ``softmax_rows``, when the student kept them; whatever does not fit is reported as a fact.
    """
    p = ctx.params
    inputs = {k: v.clone() for k, v in ctx.inputs.items()}
    facts: dict[str, Any] = {}
    tensors: dict[str, torch.Tensor] = {}
    with guarded(ctx):
        mod = ctx.import_student(MODULE)

        def first(value: Any) -> Any:
            return value[0] if isinstance(value, (tuple, list)) and value else value

        calls: dict[str, Callable[[], Any]] = {
            "mask_tokens": lambda: mod.mask_tokens(
                inputs["token_ids"], int(p["vocab_size"]), int(p["mask_token_id"]),
                int(p["seed"])),
            "layer_norm.small": lambda: first(mod.layer_norm(inputs["ln_small"])),
            "layer_norm.unit": lambda: first(mod.layer_norm(inputs["ln_unit"])),
            "gelu": lambda: first(mod.gelu(inputs["gelu"])),
            "softmax_rows": lambda: first(mod.softmax_rows(inputs["softmax"])),
        }
        for name, call in calls.items():
            if not callable(getattr(mod, name.split(".")[0], None)):
                facts[name] = "missing"
                continue
            value, error = _try(call)
            if error is not None:
                facts[name] = error
            elif name == "mask_tokens":
                pair = value if isinstance(value, (tuple, list)) else (value,)
                got = [_plain(v)[1] for v in pair[:2]]
                if len(got) == 2 and all(t is not None for t in got):
                    tensors["mask_tokens.corrupted"], tensors["mask_tokens.selected"] = got
                    facts[name] = "ok"
                else:
                    facts[name] = "not a (corrupted, selected) pair of tensors"
            else:
                tensor = _plain(value)[1]
                if tensor is None:
                    facts[name] = f"returned {type(value).__name__}"
                else:
                    tensors[name] = tensor
                    facts[name] = "ok"
    ctx.emit({"helpers": facts}, tensors or None)
