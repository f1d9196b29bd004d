"""Worker-side probes of ``bert_finetune`` (run inside the sandbox; they never judge).

Each probe imports the student's ``classifier.py``, calls one of its functions on inputs the
parent chose, and returns raw outputs: ids, strings, learning rates, gradients and parameters
captured by torch's global optimizer hook, predicted labels. The parent recomputes what they
should be. transformers is imported here, so the zygote loads it once per worker; the
environment (``HF_HUB_OFFLINE=1``, ``HF_HOME`` = the mounted read-only cache) is the sandbox's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from nlpgrade_worker import ProbeContext, probe
from torch.optim.optimizer import register_optimizer_step_pre_hook
from transformers import BertConfig, BertForSequenceClassification

MODULE = "classifier"
MAX_TEXT = 200  # characters of a student-made string sent back
MAX_WEIGHTS = 8_000_000  # floats of pretrain()'s weights sent back (the tiny BERT has ~1.1 M)
WEIGHT_PREFIXES = ("bert.", "cls.predictions.")


def _warm_up() -> None:
    """Build one throw-away model of each kind in the zygote: transformers adds attributes to
    torch (``nn.Module.smart_apply``) the first time it initialises weights, and that must
    happen before the zygote's torch snapshot, or it would be blamed on the student's code."""
    from transformers import BertForMaskedLM

    tiny = BertConfig(vocab_size=8, hidden_size=4, num_hidden_layers=1, num_attention_heads=1,
                      intermediate_size=4, max_position_embeddings=8)
    BertForSequenceClassification(tiny)
    BertForMaskedLM(tiny)


_warm_up()


def _student(ctx: ProbeContext) -> Any:
    return ctx.import_student(MODULE)


def _ints(value: Any) -> list[int] | str:
    """A returned sequence as a list of ints, or a description of what it was."""
    if isinstance(value, torch.Tensor):
        value = value.detach().reshape(-1).tolist()
    if isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, bool)) or (isinstance(v, float) and v.is_integer())
            for v in value):
        return [int(v) for v in value]
    return f"{type(value).__name__}"[:MAX_TEXT]


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_TEXT]


@probe("vectorize")
def vectorize(ctx: ProbeContext) -> None:
    """``vectorize_ex(text, label, seq_len)`` on every case; one result or error per case."""
    mod = _student(ctx)
    results: list[dict[str, Any]] = []
    for text, label, seq_len in ctx.params["cases"]:
        try:
            out = mod.vectorize_ex(text, label, seq_len)
        except NotImplementedError:
            raise  # an unfilled TODO: the parent reports it as such
        except Exception as exc:
            results.append({"error": _error(exc)})
            continue
        if not isinstance(out, (list, tuple)) or len(out) != 4:
            results.append({"error": f"returned {type(out).__name__}, not a 4-tuple"})
            continue
        ids, seg, mask, lab = out
        lab = int(lab) if isinstance(lab, (int, bool)) or (
            isinstance(lab, torch.Tensor) and lab.numel() == 1) else str(type(lab).__name__)
        results.append({"ids": _ints(ids), "seg": _ints(seg), "mask": _ints(mask), "label": lab})
    ctx.emit({"results": results})


@probe("head_tail")
def head_tail(ctx: ProbeContext) -> None:
    """``head_tail(text, head, tail)`` on every case: the kept words, or the error."""
    mod = _student(ctx)
    results: list[Any] = []
    for text, head, tail in ctx.params["cases"]:
        try:
            out = mod.head_tail(text, head, tail)
        except NotImplementedError:
            raise
        except Exception as exc:
            results.append({"error": _error(exc)})
            continue
        results.append({"words": out.split()} if isinstance(out, str)
                       else {"error": f"returned {type(out).__name__}, not a str"})
    ctx.emit({"results": results})


@probe("schedule")
def schedule(ctx: ProbeContext) -> None:
    """The lr ``make_scheduler`` gives at every optimizer step (base lr from the parent)."""
    mod = _student(ctx)
    p = ctx.params
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=float(p["lr"]))
    scheduler = mod.make_scheduler(optimizer, int(p["warmup"]), int(p["total"]))
    lrs = []
    for _ in range(int(p["total"]) + 1):
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()
        scheduler.step()
    ctx.emit({"lrs": lrs})


def micro_model(ctx: ProbeContext) -> BertForSequenceClassification:
    """The parent's small BERT (config and weights from the parent, dropout off)."""
    model = BertForSequenceClassification(BertConfig(**ctx.params["config"]))
    state = {k.removeprefix("state."): v for k, v in ctx.inputs.items()
             if k.startswith("state.")}
    model.load_state_dict(state)
    return model


class _CountingLR(torch.optim.lr_scheduler.LambdaLR):
    """A constant schedule that counts its ``step()`` calls."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.calls = -1  # LambdaLR's constructor steps once
        super().__init__(optimizer, lambda _: 1.0)

    def step(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        super().step(*args, **kwargs)


@contextmanager
def captured_steps(model: torch.nn.Module, scheduler: _CountingLR) -> Iterator[dict[str, list]]:
    """Record, at every optimizer step, the gradient of every parameter and the scheduler's
    step count (torch's global pre-step hook: it sees what the optimizer is about to use)."""
    names = [n for n, _ in model.named_parameters()]
    params = dict(model.named_parameters())
    seen: dict[str, list] = {"grads": [], "sched": [], "missing": []}

    def hook(optimizer: Any, args: Any, kwargs: Any) -> None:
        flat, missing = [], []
        for n in names:
            g = params[n].grad
            if g is None:
                missing.append(n)
                g = torch.zeros_like(params[n])
            flat.append(g.detach().reshape(-1).clone())
        seen["grads"].append(torch.cat(flat))
        seen["sched"].append(scheduler.calls)
        seen["missing"].append(missing[:5])

    handle = register_optimizer_step_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


@probe("accumulate")
def accumulate(ctx: ProbeContext) -> None:
    """``train_epoch`` on the parent's micro-batches with SGD at lr 0 (weights never move), so
    the parent can recompute the gradient every optimizer step should use."""
    mod = _student(ctx)
    p = ctx.params
    model = micro_model(ctx)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scheduler = _CountingLR(optimizer)
    batches = [tuple(ctx.inputs[k][i] for k in ("ids", "seg", "mask", "labels"))
               for i in range(ctx.inputs["ids"].shape[0])]
    with captured_steps(model, scheduler) as seen:
        out = mod.train_epoch(model, batches, optimizer, scheduler, int(p["accum"]), p["clip"])
    facts = {"sched": seen["sched"], "missing": seen["missing"], "steps": len(seen["grads"]),
             "returned": sorted(map(str, out))[:8] if isinstance(out, dict) else
             type(out).__name__}
    tensors = {"grads": torch.stack(seen["grads"])} if seen["grads"] else {}
    ctx.emit(facts, tensors)


@probe("optimizer")
def optimizer_probe(ctx: ProbeContext) -> None:
    """``make_optimizer`` on the parent's model; the weights after steps with the parent's
    gradients."""
    mod = _student(ctx)
    p = ctx.params
    model = micro_model(ctx)
    optimizer = mod.make_optimizer(model, p["name"], float(p["lr"]), float(p["weight_decay"]))
    named = dict(model.named_parameters())
    for step in range(int(p["steps"])):
        optimizer.zero_grad()
        for n, param in named.items():
            param.grad = ctx.inputs[f"grad{step}.{n}"].clone()
        optimizer.step()
    groups = [{"size": sum(q.numel() for q in g["params"]),
               "weight_decay": float(g.get("weight_decay", 0.0)), "lr": float(g.get("lr", 0.0))}
              for g in optimizer.param_groups]
    ctx.emit({"class": type(optimizer).__name__, "groups": groups[:8]},
             {f"after.{n}": q.detach().clone() for n, q in named.items()})


@probe("mask")
def mask(ctx: ProbeContext) -> None:
    """``mask_tokens(input_ids, generator)`` on the parent's ids; the two returned tensors."""
    mod = _student(ctx)
    ids = ctx.inputs["ids"].clone()
    out = mod.mask_tokens(ids, torch.Generator().manual_seed(int(ctx.params["seed"])))
    if not isinstance(out, (list, tuple)) or len(out) != 2:
        raise TypeError(f"mask_tokens returned {type(out).__name__}, not (masked_ids, labels)")
    tensors = {name: torch.as_tensor(v).detach().clone() for name, v in zip(("masked", "labels"),
                                                                            out)}
    ctx.emit({"shapes": [list(t.shape) for t in tensors.values()]}, tensors)


@probe("load")
def load(ctx: ProbeContext) -> None:
    """Facts about the tokenizer and classifier the student's code loads."""
    mod = _student(ctx)
    facts: dict[str, Any] = {}
    tok = mod.get_tokenizer()
    facts["tokens"] = [str(t)[:40] for t in tok.tokenize(ctx.params["text"])][:40]
    model = mod.load_classifier()
    facts["parameters"] = int(sum(q.numel() for q in model.parameters()))
    facts["hidden"] = int(getattr(model.config, "hidden_size", -1))
    facts["num_labels"] = int(getattr(model.config, "num_labels", -1))
    ctx.emit(facts)


def pretrained_weights(params: Any) -> tuple[dict[str, torch.Tensor], str]:
    """The MLM weights ``pretrain()`` returned, and where they were found.

    Looked for as the template documents (``params["mlm_state"]``, a state dict), else as any
    model or state dict among the values of a returned dict, else as a returned model."""
    candidates: list[tuple[str, Any]] = []
    if isinstance(params, dict):
        if "mlm_state" in params:
            candidates.append(("params['mlm_state']", params["mlm_state"]))
        candidates += [(f"params[{str(k)[:40]!r}]", v) for k, v in params.items()
                       if k != "mlm_state"]
    else:
        candidates.append(("the returned value", params))
    for where, value in candidates:
        if isinstance(value, torch.nn.Module):
            value = value.state_dict()
        if not isinstance(value, dict):
            continue
        found = {str(k): v for k, v in value.items() if isinstance(v, torch.Tensor)
                 and str(k).startswith(WEIGHT_PREFIXES)}
        if found and sum(v.numel() for v in found.values()) <= MAX_WEIGHTS:
            # cloned one by one: tied weights share storage, which safetensors refuses
            return {k: v.detach().to("cpu").clone() for k, v in found.items()}, where
    return {}, ""


def _floats(values: Any) -> list[float] | str:
    if not isinstance(values, (list, tuple)):
        return type(values).__name__
    try:
        return [float(v) for v in values][:1000]
    except (TypeError, ValueError):
        return "not numbers"


@probe("interface")
def interface(ctx: ProbeContext) -> None:
    """``[pretrain ->] train -> classify`` as ``evaluate.py`` calls them, timed per call.

    The texts to classify come without labels. While ``classify`` runs, a global forward hook
    records whether any dropout module was in training mode; during ``train`` the optimizer
    hook records the learning rate of every step.
    """
    mod = _student(ctx)
    p = ctx.params
    facts: dict[str, Any] = {}
    pretrain_params = None
    if p.get("pretrain"):
        t0 = time.process_time()
        pretrain_params = mod.pretrain([p["train_texts"], p["unlabeled_texts"]])
        facts["pretrain_cpu_s"] = round(time.process_time() - t0, 3)
        facts["pretrain_type"] = type(pretrain_params).__name__
        weights, facts["weights_from"] = pretrained_weights(pretrain_params)
    lrs: list[float] = []
    handle = register_optimizer_step_pre_hook(
        lambda opt, a, k: lrs.append(float(opt.param_groups[0]["lr"])))
    t0 = time.process_time()
    try:
        params = mod.train(p["train_texts"], p["train_labels"], pretrain_params=pretrain_params)
    finally:
        handle.remove()
    facts["train_cpu_s"] = round(time.process_time() - t0, 3)
    facts["lrs"] = lrs[:2000]
    history = params.get("history") if isinstance(params, dict) else None
    if isinstance(history, dict):
        facts["history"] = {str(k)[:40]: _floats(v) for k, v in list(history.items())[:8]}
    training_dropout: list[bool] = []

    def watch(module: torch.nn.Module, args: Any) -> None:
        if isinstance(module, torch.nn.Dropout) and not training_dropout:
            training_dropout.append(bool(module.training and module.p > 0))

    hook = torch.nn.modules.module.register_module_forward_pre_hook(watch)
    t0 = time.process_time()
    try:
        labels = mod.classify(p["eval_texts"], params)
    finally:
        hook.remove()
    facts["classify_cpu_s"] = round(time.process_time() - t0, 3)
    facts["dropout_active"] = bool(training_dropout and training_dropout[0])
    if isinstance(labels, (list, tuple)):
        facts["labels"] = [v if v in ("pos", "neg") else str(v)[:20] for v in
                           list(labels)[: 2 * len(p["eval_texts"]) + 1]]
        facts["n_labels"] = len(labels)
    else:
        facts["labels_type"] = type(labels).__name__
    facts["finite"] = all(math.isfinite(x) for x in facts.get("lrs", []))
    ctx.emit(facts, {f"mlm.{k}": v for k, v in weights.items()} if p.get("pretrain") else None)
