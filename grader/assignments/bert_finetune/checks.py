"""The checks of ``bert_finetune``: unit tier (one function at a time) and interface tier.

Every verdict compares what the sandbox returned with what the parent recomputed itself
(``expected.py``) or checks facts that need no secret (one ``pos``/``neg`` per text). The labels
of the texts ``classify`` sees never leave the parent; the interface tier does not score them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from grader.assignments.bert_finetune import cases as C
from grader.assignments.bert_finetune import expected as E
from grader.assignments.bert_finetune import mlm as M
from grader.checks import CheckRegistry, Verdict
from grader.results import CheckStatus
from grader.sandbox import Limits

if TYPE_CHECKING:
    from grader.assignments.bert_finetune.prepared import Prepared
    from grader.context import GradingContext
    from grader.sandbox import ProbeOutcome

registry = CheckRegistry()


def _prep(ctx: GradingContext) -> Prepared:
    return ctx.prepared


def _unit(ctx: GradingContext, name: str, params: dict[str, Any],
          inputs: dict[str, torch.Tensor] | None = None, doing: str = "") -> ProbeOutcome:
    limits = Limits(cpu_s=float(ctx.setting("unit_cpu_s", 30.0)), memory_mb=3072)
    outcome = ctx.probe(name, params, inputs, limits=limits)
    return ctx.require(outcome, doing or f"running {name}")


def _tok(ctx: GradingContext) -> Any:
    return E.tokenizer(_prep(ctx).snapshot)


def _show(tok: Any, ids: list[int], at: int) -> str:
    window = ids[max(0, at - 2): at + 3]
    return " ".join(tok.convert_ids_to_tokens([int(i) for i in window if 0 <= int(i) < len(tok)]))


# -- load ---------------------------------------------------------------------------------------
@registry.check("load.model", "Loads bert-base-uncased and its uncased tokenizer")
def load_model(ctx: GradingContext) -> Verdict:
    """``get_tokenizer()`` lower-cases like bert-base-uncased; ``load_classifier()`` builds the
    served checkpoint with a 2-label head."""
    text = "The MOVIE Was GREAT"
    out = _unit(ctx, "load", {"text": text}, doing="loading the tokenizer and the model")
    tok = _tok(ctx)
    want_tokens = tok.tokenize(text)
    if out.data.get("tokens") != want_tokens:
        return Verdict.failed(
            f"Your tokenizer turns {text!r} into {out.data.get('tokens')}; bert-base-uncased's "
            f"gives {want_tokens}. Load it with from_pretrained(\"bert-base-uncased\") and keep "
            "its lower-casing (the vocabulary is uncased).")
    want_params = _prep(ctx).classifier_parameters
    if out.data.get("num_labels") != 2 or out.data.get("parameters") != want_params:
        return Verdict.failed(
            f"load_classifier() built a model with {out.data.get('parameters')} parameters and "
            f"{out.data.get('num_labels')} labels; BertForSequenceClassification.from_pretrained"
            f"(\"bert-base-uncased\", num_labels=2) has {want_params} here. Load that model by "
            "name and size any layer of your own from model.config.hidden_size.")
    return Verdict.passed("The uncased tokenizer and a 2-label BertForSequenceClassification.")


# -- vectorize_ex -------------------------------------------------------------------------------
def _vectorized(ctx: GradingContext) -> list[tuple[tuple, dict[str, Any], dict[str, Any]]]:
    """``(case, got, want)`` for every vectorize case (one probe run for all)."""
    all_cases = C.VECTORIZE + C.EDGES
    out = _unit(ctx, "vectorize", {"cases": [[t, lab, n] for _, t, lab, n in all_cases]},
                doing="calling vectorize_ex")
    tok = _tok(ctx)
    results = out.data.get("results") or []
    return [(case, results[i] if i < len(results) else {"error": "no result"},
             E.vectorized(tok, case[1], case[2], case[3])) for i, case in enumerate(all_cases)]


def _ids_problem(tok: Any, case: tuple, got: dict[str, Any], want: dict[str, Any]) -> str | None:
    """Why ``got["ids"]`` is not the expected id list (None when it is)."""
    name, _, _, seq_len = case
    if "error" in got:
        return f"On {name}, vectorize_ex raised {got['error']}."
    ids = got["ids"]
    if not isinstance(ids, list):
        return f"On {name}, input_ids is a {ids}, not a list of ints."
    if ids == want["ids"]:
        return None
    where = f"On {name} (seq_len={seq_len})"
    if len(ids) != seq_len:
        hint = (" Cut the WordPiece tokens to seq_len - 2 before adding [CLS] and [SEP]."
                if len(ids) > seq_len else " Pad with [PAD] to exactly seq_len.")
        return f"{where} input_ids has {len(ids)} entries; expected exactly {seq_len}.{hint}"
    if ids[0] != tok.cls_token_id:
        return (f"{where} input_ids starts with {ids[0]}; every sequence starts with [CLS] "
                f"(id {tok.cls_token_id}), as in BERT's pretraining.")
    real = want["real"]
    if ids[:real - 1] == want["ids"][:real - 1] and ids[real - 1] != tok.sep_token_id:
        return (f"{where} position {real - 1}, right after the last kept token, holds "
                f"{ids[real - 1]}; expected [SEP] (id {tok.sep_token_id}).")
    if ids[:real] == want["ids"][:real]:
        pad = sorted({i for i in ids[real:] if i != tok.pad_token_id})
        return (f"{where} the padding after position {real - 1} holds {pad[:3]}; pad with "
                f"[PAD] (id {tok.pad_token_id}).")
    at = next(i for i, (a, b) in enumerate(zip(ids, want["ids"])) if a != b)
    msg = (f"{where} input_ids differs first at position {at}: yours {ids[at]} "
           f"(around: {_show(tok, ids, at)}), expected {want['ids'][at]} "
           f"(around: {_show(tok, want['ids'], at)}).")
    if ids[at] == tok.unk_token_id:
        msg += " [UNK] where a word piece is expected: is the text lower-cased?"
    return msg


def _judge_ids(ctx: GradingContext, names: set[str]) -> Verdict:
    tok = _tok(ctx)
    rows = [r for r in _vectorized(ctx) if r[0][0] in names]
    problems = [p for case, got, want in rows if (p := _ids_problem(tok, case, got, want))]
    if problems:
        more = f" ({len(problems)} of {len(rows)} cases wrong)" if len(problems) > 1 else ""
        return Verdict.failed(problems[0] + more, score=1 - len(problems) / len(rows))
    return Verdict.passed(f"input_ids equal the tokenizer's on {len(rows)} cases.")


@registry.check("vectorize.ids", "vectorize_ex: WordPiece ids with [CLS]/[SEP], cut and padded")
def vectorize_ids(ctx: GradingContext) -> Verdict:
    """input_ids equal ``[CLS] + tokenize(text)[:seq_len-2] + [SEP]`` + [PAD]s on ordinary
    reviews (the parent runs the tokenizer)."""
    return _judge_ids(ctx, {c[0] for c in C.VECTORIZE})


@registry.check("vectorize.edges", "vectorize_ex on long, empty, non-ASCII and odd-spaced texts")
def vectorize_edges(ctx: GradingContext) -> Verdict:
    """The same on the edge cases: a review far longer than seq_len, "", accents/emoji/CJK,
    tabs and repeated spaces."""
    return _judge_ids(ctx, {c[0] for c in C.EDGES})


@registry.check("vectorize.fields", "vectorize_ex: input_mask, segment_ids and the label map")
def vectorize_fields(ctx: GradingContext) -> Verdict:
    """``input_mask`` 1 on real tokens ([CLS]/[SEP] included) and 0 on padding, ``segment_ids``
    all 0, ``neg`` -> 0 and ``pos`` -> 1, on every case that returned."""
    rows = [(c, g, w) for c, g, w in _vectorized(ctx) if "error" not in g]
    if not rows:
        return Verdict.failed("vectorize_ex raised on every case (see the input_ids check).")
    labels = {(c[2], g.get("label")) for c, g, _ in rows}
    for case, got, want in rows:
        name = case[0]
        if got["mask"] != want["mask"]:
            if isinstance(got["mask"], list) and got["mask"] == [1 - m for m in want["mask"]]:
                return Verdict.failed(f"On {name} input_mask is inverted: 1 marks real tokens "
                                      "([CLS] and [SEP] included), 0 marks padding.")
            return Verdict.failed(
                f"On {name} input_mask should have {want['real']} ones (the real tokens, [CLS] "
                f"and [SEP] included) then {case[3] - want['real']} zeros; yours: "
                f"{_summary(got['mask'])}.")
        if got["seg"] != want["seg"]:
            return Verdict.failed(f"On {name} segment_ids is {_summary(got['seg'])}; one "
                                  "sentence per example: all 0, seq_len long.")
        if got["label"] != want["label"]:
            seen = ", ".join(f"{lab!r} -> {v!r}" for lab, v in sorted(labels, key=str))
            return Verdict.failed(f"label_id: yours maps {seen}; expected 'neg' -> 0, "
                                  "'pos' -> 1.")
    return Verdict.passed(f"Mask, segments and labels right on {len(rows)} cases.")


def _summary(values: Any) -> str:
    if not isinstance(values, list):
        return str(values)
    head = ", ".join(map(str, values[:12]))
    return f"[{head}{', ...' if len(values) > 12 else ''}] ({len(values)} entries)"


# -- head/tail ----------------------------------------------------------------------------------
@registry.check("truncation.head_tail", "head_tail keeps the first h and the last t words")
def truncation_head_tail(ctx: GradingContext) -> Verdict:
    """``head_tail(text, h, t).split()`` equals ``words[:h] + words[-t:]`` (all words when the
    text has at most h + t)."""
    out = _unit(ctx, "head_tail", {"cases": [[t, h, k] for _, t, h, k in C.HEAD_TAIL]},
                doing="calling head_tail")
    results = out.data.get("results") or []
    wrong = []
    for i, (name, text, head, tail) in enumerate(C.HEAD_TAIL):
        got = results[i] if i < len(results) else {"error": "no result"}
        want = E.head_tail_words(text, head, tail)
        if got.get("words") != want:
            shown = got.get("error") or " ".join(got.get("words") or [])[:120]
            wrong.append(f"{name} (head={head}, tail={tail}): yours {shown!r}, expected "
                         f"{' '.join(want)[:120]!r}")
    if wrong:
        return Verdict.failed("head_tail keeps the wrong words on " + "; ".join(wrong[:2])
                              + (f" (and {len(wrong) - 2} more)" if len(wrong) > 2 else "")
                              + ". Words are whitespace-separated; words[-0:] is every word.",
                              score=1 - len(wrong) / len(C.HEAD_TAIL))
    return Verdict.passed(f"Right words on {len(C.HEAD_TAIL)} cases.")


# -- scheduler ----------------------------------------------------------------------------------
def _curve_problem(lrs: list[float], warmup: int, total: int) -> str | None:
    base = C.SCHEDULE_LR
    want = [base * E.schedule_factor(s, warmup, total) for s in range(total + 1)]
    ahead = [base * E.schedule_factor(s + 1, warmup, total) for s in range(total + 1)]
    if len(lrs) == len(want) and (all(abs(a - b) <= 1e-6 for a, b in zip(lrs, want))
                                  or all(abs(a - b) <= 1e-6 for a, b in zip(lrs, ahead))):
        return None
    where = f"With warmup_steps={warmup}, total_steps={total} (base lr {base})"
    peak = max(range(len(lrs)), key=lambda i: lrs[i]) if lrs else 0
    if warmup > 0 and lrs and lrs[0] >= base * 0.99:
        return f"{where} the lr starts at its peak {lrs[0]:.3g}: there is no warm-up from 0."
    if lrs and lrs[-1] > base * 0.05 and lrs[-1] >= lrs[min(peak, len(lrs) - 1)] * 0.99:
        return (f"{where} the lr ends at {lrs[-1]:.3g} after rising: it must fall linearly to 0 "
                "at total_steps (the decay runs the wrong way).")
    bad = next((s for s, (a, b) in enumerate(zip(lrs, want)) if abs(a - b) > 1e-6), None)
    if bad is None:
        return f"{where} your scheduler gave {len(lrs)} values for {len(want)} steps."
    return (f"{where} the lr at step {bad} is {lrs[bad]:.6g}; expected {want[bad]:.6g} "
            "(linear from 0 to the peak at warmup_steps, then linearly to 0 at total_steps).")


@registry.check("schedule.curve", "make_scheduler: linear warm-up, then linear decay to 0")
def schedule_curve(ctx: GradingContext) -> Verdict:
    """The lr at every step equals ``base * factor(step)`` (or ``factor(step + 1)``, one step
    ahead) for three (warm-up, total) pairs, including no warm-up."""
    problems = []
    for warmup, total in C.SCHEDULES:
        out = _unit(ctx, "schedule", {"warmup": warmup, "total": total, "lr": C.SCHEDULE_LR},
                    doing=f"stepping make_scheduler(optimizer, {warmup}, {total})")
        lrs = [float(x) for x in out.data.get("lrs") or []]
        problem = _curve_problem(lrs, warmup, total)
        if problem:
            problems.append(problem)
    if problems:
        return Verdict.failed(problems[0], score=1 - len(problems) / len(C.SCHEDULES))
    return Verdict.passed(f"The lr curve is right for {len(C.SCHEDULES)} schedules.")


# -- accumulation and clipping ------------------------------------------------------------------
def _accumulated(ctx: GradingContext, clip: float) -> tuple[ProbeOutcome, torch.Tensor]:
    a = C.ACCUM
    state = E.micro_state(a["seed"])
    batches = E.micro_batches(a["seed"], a["n_micro"], a["batch"], a["length"])
    inputs = {**{f"state.{k}": v for k, v in state.items()}, **batches}
    out = _unit(ctx, "accumulate", {"config": E.MICRO_CONFIG, "accum": a["accum"], "clip": clip},
                inputs, doing=f"running train_epoch with accum_steps={a['accum']}")
    key = ("accumulate", clip)
    if key not in ctx.shared.values:
        ctx.shared.values[key] = E.step_gradients(state, batches, a["accum"],
                                                  clip if clip < 1e8 else None)
    return out, ctx.shared.values[key]


def _relative(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.double() - want.double()).norm() / max(float(want.double().norm()), 1e-30))


@registry.check("train.accumulation", "train_epoch: k micro-batches give one batch's gradient")
def train_accumulation(ctx: GradingContext) -> Verdict:
    """At every optimizer step (SGD at lr 0, dropout off, no clipping) the gradient equals the
    gradient of the mean loss over all examples of the last ``accum_steps`` micro-batches; the
    scheduler steps once per optimizer step."""
    a = C.ACCUM
    out, want = _accumulated(ctx, 1e9)
    n_steps = a["n_micro"] // a["accum"]
    got = out.tensors.get("grads")
    where = (f"With {a['n_micro']} micro-batches of {a['batch']} examples and "
             f"accum_steps={a['accum']}")
    if got is None or got.shape[0] != n_steps or got.shape[1:] != want.shape[1:]:
        steps = out.data.get("steps")
        return Verdict.failed(f"{where} your train_epoch made {steps} optimizer steps; expected "
                              f"{n_steps} (one per accum_steps micro-batches).")
    rel = [_relative(got[i], want[i]) for i in range(n_steps)]
    tol = float(ctx.setting("accum_rtol", 1e-4))
    if max(rel) > tol:
        ratio = float(got[0].double().norm() / want[0].double().norm())
        hint = ""
        if abs(ratio - a["accum"]) < 0.05 * a["accum"]:
            hint = (f" Your gradient is {ratio:.2f} times the expected one: each micro-batch's "
                    "loss must be divided by accum_steps before backward().")
        elif _matches_last_micro(ctx, got[0]):
            hint = (" It is the gradient of the last micro-batch alone: the gradients are reset "
                    "(zero_grad) every micro-batch instead of after each optimizer step.")
        return Verdict.failed(
            f"{where} the gradient at optimizer step {rel.index(max(rel))} is off by "
            f"{max(rel):.1e} relative (allowed {tol:.0e}); expected the gradient of the mean "
            f"loss over the {a['accum'] * a['batch']} examples since the last step.{hint}",
            relative_error=max(rel))
    sched = out.data.get("sched") or []
    if sched != list(range(n_steps)):
        return Verdict.failed(
            f"{where} the scheduler had stepped {sched} times when the optimizer stepped "
            f"(expected {list(range(n_steps))}): call scheduler.step() once per optimizer step, "
            "not per micro-batch.")
    return Verdict.passed(f"Gradients match one big batch at {n_steps} steps (worst relative "
                          f"error {max(rel):.1e}); one scheduler step per optimizer step.")


def _matches_last_micro(ctx: GradingContext, grad: torch.Tensor) -> bool:
    """Whether ``grad`` is (a multiple of) the first window's last micro-batch gradient."""
    a = C.ACCUM
    state = E.micro_state(a["seed"])
    batches = E.micro_batches(a["seed"], a["n_micro"], a["batch"], a["length"])
    last = E.window_gradient(state, batches, range(a["accum"] - 1, a["accum"]))
    return any(_relative(grad, last * scale) < 1e-3 for scale in (1.0, 1.0 / a["accum"]))


@registry.check("train.clipping", "Gradient clipping to the global norm before each step",
                depends=("train.accumulation",))
def train_clipping(ctx: GradingContext) -> Verdict:
    """With ``clip`` below the gradient's norm, every step's gradient is the accumulated one
    scaled to global norm ``clip`` (``clip_grad_norm_`` over all parameters)."""
    acc = ctx.results.get("train.accumulation")
    if acc is not None and acc.status != CheckStatus.PASSED:
        return Verdict.skipped("Needs train_epoch's accumulation right first (see above).")
    out, want = _accumulated(ctx, C.CLIP)
    got = out.tensors.get("grads")
    if got is None or got.shape != want.shape:
        return Verdict.failed("With clipping on, train_epoch made a different number of "
                              "optimizer steps than without it.")
    rel = max(_relative(got[i], want[i]) for i in range(got.shape[0]))
    if rel > float(ctx.setting("accum_rtol", 1e-4)):
        norm = float(got[0].norm())
        _, unclipped = _accumulated(ctx, 1e9)
        hint = (" The norm is unchanged: is clip passed on and applied before optimizer.step()?"
                if abs(norm - float(unclipped[0].norm())) < 1e-3 * norm else
                " Clip the global norm of all gradients together (clip_grad_norm_ over "
                "model.parameters()), once per optimizer step, after accumulating.")
        return Verdict.failed(f"With clip={C.CLIP} the gradient at the first step has norm "
                              f"{norm:.4g} and is off by {rel:.1e} relative from the clipped "
                              f"accumulated gradient (norm {C.CLIP}).{hint}")
    return Verdict.passed(f"Clipped to global norm {C.CLIP} at every step.")


# -- optimizers ---------------------------------------------------------------------------------
OPT_RULES = {"all": "weight decay on every parameter, biases and LayerNorm weights included",
             "none": "no weight decay at all"}


@registry.check("optimizer.adam_adamw", "make_optimizer: Adam (L2) vs AdamW (decoupled decay)")
def optimizer_adam_adamw(ctx: GradingContext) -> Verdict:
    """Two steps of ``make_optimizer(model, name, lr, wd)`` with the parent's gradients give
    torch's Adam/AdamW weights with no decay on biases and LayerNorm weights; half the credit
    per optimizer."""
    o = C.OPTIMIZER
    state = E.micro_state(o["seed"], scale=0.5)
    grads = E.optimizer_grads(o["seed"], o["steps"])
    inputs = {**{f"state.{k}": v for k, v in state.items()},
              **{f"grad{i}.{k}": v for i, g in enumerate(grads) for k, v in g.items()}}
    problems = []
    for name in ("adam", "adamw"):
        params = {"config": E.MICRO_CONFIG, "name": name, "lr": o["lr"],
                  "weight_decay": o["weight_decay"], "steps": o["steps"]}
        out = _unit(ctx, "optimizer", params, inputs,
                    doing=f"stepping make_optimizer(model, {name!r}, ...)")
        got = {k.removeprefix("after."): v for k, v in out.tensors.items()}
        if set(got) != set(state) - _buffers(state):
            problems.append(f"{name}: the probe could not read the weights back")
            continue

        def off(want: dict[str, torch.Tensor], got: dict[str, torch.Tensor] = got) -> float:
            return max(float((got[k].double() - want[k].double()).abs().max()) for k in got)

        tol = float(ctx.setting("optimizer_atol", 1e-5))
        args = (state, grads, name, o["lr"], o["weight_decay"])
        if off(E.optimizer_step(*args)) <= tol:
            continue
        other = "adamw" if name == "adam" else "adam"
        diagnosis = "its weights differ from torch's after two steps"
        for rule, words in OPT_RULES.items():
            if off(E.optimizer_step(*args, rule=rule)) <= tol:
                diagnosis = f"it behaves like {name} with {words}"
        if off(E.optimizer_step(state, grads, other, o["lr"], o["weight_decay"])) <= tol:
            diagnosis = (f"it behaves like {other}: Adam adds weight_decay * w to the gradient "
                         "(L2), AdamW shrinks the weights directly (decoupled)")
        problems.append(f"make_optimizer(model, {name!r}, lr={o['lr']}, "
                        f"weight_decay={o['weight_decay']}): {diagnosis}")
    if problems:
        return Verdict.failed(
            "; ".join(problems) + ". Expected torch.optim.Adam for 'adam' and torch.optim.AdamW "
            "for 'adamw', each with two parameter groups: weight_decay on the weights, none on "
            "biases and LayerNorm weights.", score=1 - len(problems) / 2)
    return Verdict.passed("Adam and AdamW steps match torch's, with no decay on biases and "
                          "LayerNorm weights.")


def _buffers(state: dict[str, torch.Tensor]) -> set[str]:
    names = {n for n, _ in E.micro_model().named_parameters()}
    return {k for k in state if k not in names}


# -- MLM masking --------------------------------------------------------------------------------
@registry.check("pretrain.masking", "mask_tokens: 15 % of real tokens, 80/10/10")
def pretrain_masking(ctx: GradingContext) -> Verdict:
    """On 64 real reviews (seq 128): labels are the original ids at selected positions and -100
    elsewhere, no [CLS]/[SEP]/[PAD] selected, rates within 4 binomial standard deviations."""
    tok = _tok(ctx)
    texts = list(_prep(ctx).sample.train_texts[: C.MASK_ROWS])
    ids = E.masking_ids(tok, texts, C.MASK_SEQ)
    out = _unit(ctx, "mask", {"seed": C.MASK_SEED}, {"ids": ids}, doing="calling mask_tokens")
    masked, labels = out.tensors.get("masked"), out.tensors.get("labels")
    if masked is None or labels is None or masked.shape != ids.shape or labels.shape != ids.shape:
        return Verdict.failed(f"mask_tokens must return two tensors shaped like input_ids "
                              f"{list(ids.shape)}; got {out.data.get('shapes')}.")
    special = (ids == tok.cls_token_id) | (ids == tok.sep_token_id) | (ids == tok.pad_token_id)
    selected = labels != -100
    if bool((selected & special).any()):
        return Verdict.failed("mask_tokens selected [CLS], [SEP] or [PAD] positions: only real "
                              "tokens may be selected.")
    if not torch.equal(labels[selected], ids[selected]):
        return Verdict.failed("mlm_labels must hold the original id at every selected position "
                              "(and -100 elsewhere).")
    if not torch.equal(masked[~selected], ids[~selected]):
        return Verdict.failed("mask_tokens changed tokens that it did not select (labels -100 "
                              "there): only selected tokens may change.")
    real, n_sel = int((~special).sum()), int(selected.sum())
    to_mask = int((masked[selected] == tok.mask_token_id).sum())
    kept = int((masked[selected] == ids[selected]).sum())
    rates = [("selected", n_sel, real, 0.15), ("[MASK] among selected", to_mask, n_sel, 0.8),
             ("random among selected", n_sel - to_mask - kept, n_sel, 0.1),
             ("unchanged among selected", kept, n_sel, 0.1)]
    for what, k, n, p in rates:
        if n == 0 or abs(k / n - p) > 4 * math.sqrt(p * (1 - p) / n):
            return Verdict.failed(f"Rate of {what}: {k}/{n} = {k / max(n, 1):.3f}; expected "
                                  f"{p} (within {4 * math.sqrt(p * (1 - p) / max(n, 1)):.3f}).")
    return Verdict.passed(f"{n_sel}/{real} real tokens selected ({n_sel / real:.3f}); "
                          f"{to_mask / n_sel:.2f} [MASK], {kept / n_sel:.2f} unchanged.")


# -- interface tier -----------------------------------------------------------------------------
def _interface(ctx: GradingContext, pretrain: bool) -> ProbeOutcome:
    s = _prep(ctx).sample
    params = {"train_texts": s.train_texts, "train_labels": s.train_labels,
              "eval_texts": s.eval_texts, "pretrain": pretrain,
              "unlabeled_texts": s.unlabeled_texts if pretrain else []}
    cpu = float(ctx.setting("interface_cpu_s", 60.0)) * (1.5 if pretrain else 1.0)
    outcome = ctx.probe("interface", params, limits=Limits(cpu_s=cpu, memory_mb=4096))
    doing = ("running pretrain, train and classify" if pretrain else
             f"running train on {len(s.train_texts)} reviews and classify on "
             f"{len(s.eval_texts)} (tiny BERT, your HPARAMS)")
    return ctx.require(outcome, doing)


def _labels_problem(data: dict[str, Any], n: int) -> str | None:
    labels = data.get("labels")
    if labels is None:
        return f"classify returned a {data.get('labels_type')}; expected a list of labels."
    if data.get("n_labels") != n:
        return f"classify returned {data.get('n_labels')} labels for {n} texts."
    odd = sorted({lab for lab in labels if lab not in ("pos", "neg")})
    if odd:
        return f"classify returned {odd[:3]}; every label must be the string 'pos' or 'neg'."
    return None


@registry.check("interface.train_classify", "train then classify: one pos/neg per text")
def interface_train_classify(ctx: GradingContext) -> Verdict:
    """``train`` on 64 reviews (the longest review included) and ``classify`` on 32 unlabelled
    ones with a tiny random BERT that has the real vocabulary, within the CPU budget."""
    n = len(_prep(ctx).sample.eval_texts)
    out = _interface(ctx, pretrain=False)
    problem = _labels_problem(out.data, n)
    if problem:
        return Verdict.failed(problem)
    return Verdict.passed(f"{n} labels from classify (train took {out.data.get('train_cpu_s')} "
                          f"CPU s, classify {out.data.get('classify_cpu_s')} CPU s).")


@registry.check("classify.eval_mode", "classify runs the model in eval mode",
                depends=("interface.train_classify",))
def classify_eval_mode(ctx: GradingContext) -> Verdict:
    """No dropout module is in training mode while ``classify`` runs."""
    out = _interface(ctx, pretrain=False)
    if out.data.get("dropout_active"):
        return Verdict.failed("classify ran the model with dropout active (training mode): call "
                              "model.eval() (and use torch.no_grad()) before predicting.")
    return Verdict.passed("Dropout was off while classify ran.")


@registry.check("train.settings", "Training settings: Adam lr in [1e-6, 1e-3], a schedule",
                depends=("interface.train_classify",))
def train_settings(ctx: GradingContext) -> Verdict:
    """During ``train`` the optimizer stepped, its peak lr is in [1e-6, 1e-3] and the lr changed
    over the steps (warm-up/decay)."""
    out = _interface(ctx, pretrain=False)
    lrs = [float(x) for x in out.data.get("lrs") or []]
    if not lrs:
        return Verdict.failed("train never called optimizer.step() (seen by torch's optimizer "
                              "hook): is train_epoch called with the optimizer you built?")
    peak = max(lrs)
    if not 1e-6 <= peak <= 1e-3:
        return Verdict.failed(f"The peak learning rate during train was {peak:.3g}; fine-tuning "
                              "BERT with Adam wants a value in [1e-6, 1e-3].")
    if len(lrs) >= 3 and max(lrs) - min(lrs) <= 1e-12:
        return Verdict.failed(f"The lr stayed {peak:.3g} over all {len(lrs)} optimizer steps: "
                              "make_scheduler must warm up and decay it.")
    return Verdict.passed(f"{len(lrs)} optimizer steps, peak lr {peak:.3g}.")


@registry.check("curves.history", "Learning curves: train/dev loss and accuracy per epoch",
                depends=("interface.train_classify",))
def curves_history(ctx: GradingContext) -> Verdict:
    """``params["history"]`` has ``train_loss``, ``dev_loss``, ``train_acc``, ``dev_acc`` of equal
    length >= 1, losses finite and >= 0, accuracies in [0, 1]. (The figure is for a human.)"""
    out = _interface(ctx, pretrain=False)
    history = out.data.get("history")
    keys = ("train_loss", "dev_loss", "train_acc", "dev_acc")
    if not isinstance(history, dict) or any(k not in history for k in keys):
        have = sorted(history) if isinstance(history, dict) else "no history"
        return Verdict.failed(f"train's params['history'] must hold {', '.join(keys)} (one value "
                              f"per epoch); found {have}.")
    series = {k: history[k] for k in keys}
    if any(not isinstance(v, list) or not v for v in series.values()):
        return Verdict.failed("Every learning curve must be a non-empty list of numbers.")
    if len({len(v) for v in series.values()}) != 1:
        return Verdict.failed("The four curves have different lengths: "
                              + ", ".join(f"{k} {len(v)}" for k, v in series.items()) + ".")
    for k, v in series.items():
        bad = [x for x in v if not math.isfinite(x)
               or (k.endswith("loss") and x < 0) or (k.endswith("acc") and not 0 <= x <= 1)]
        if bad:
            return Verdict.failed(f"{k} holds {bad[0]!r}: losses are finite and >= 0, "
                                  "accuracies are fractions in [0, 1].")
    return Verdict.passed(f"Four curves of {len(series['train_loss'])} epoch(s).")


@registry.check("interface.pretrain", "pretrain, then train from it, then classify")
def interface_pretrain(ctx: GradingContext) -> Verdict:
    """``pretrain([train_texts, unlabeled_texts])`` returns params that ``train`` accepts; the
    labels from ``classify`` are one ``pos``/``neg`` per text."""
    n = len(_prep(ctx).sample.eval_texts)
    out = _interface(ctx, pretrain=True)
    problem = _labels_problem(out.data, n)
    if problem:
        return Verdict.failed(problem + " (after pretrain)")
    return Verdict.passed(f"pretrain took {out.data.get('pretrain_cpu_s')} CPU s; train accepted "
                          "its params.")


MLM_SEQ, MLM_SEED = 128, 41


@registry.check("pretrain.mlm_loss", "pretrain lowers the MLM loss on texts it never saw",
                depends=("interface.pretrain",))
def pretrain_mlm_loss(ctx: GradingContext) -> Verdict:
    """The weights ``pretrain()`` returned (tiny BERT, your QUICK settings), loaded over the
    checkpoint's, give a lower masked-token loss on held-out reviews than the checkpoint itself:
    the parent masks those texts (15 % of each one's real tokens, all [MASK], its own seed)
    and computes both losses."""
    first = ctx.results.get("interface.pretrain")
    if first is not None and first.status != CheckStatus.PASSED:
        return Verdict.skipped("Needs pretrain, train and classify to run first (see above).")
    out = _interface(ctx, pretrain=True)
    state = {k.removeprefix("mlm."): v for k, v in out.tensors.items() if k.startswith("mlm.")}
    if not state:
        return Verdict.failed(
            f"pretrain returned a {out.data.get('pretrain_type')} in which the grader found no "
            "BertForMaskedLM weights: return {\"mlm_state\": model.state_dict(), ...} as the "
            "template's docstring says, so that train() (and the grader) can start from them.")
    prep = _prep(ctx)
    tok = _tok(ctx)
    key = ("heldout_ids",)
    if key not in ctx.shared.values:
        ctx.shared.values[key] = E.masking_ids(tok, prep.heldout, MLM_SEQ)
    try:
        before, after, taken = M.loss_before_after(prep.snapshot, state,
                                                   ctx.shared.values[key], tok, MLM_SEED)
    except ValueError as exc:
        return Verdict.failed(f"The weights in {out.data.get('weights_from')} do not fit "
                              f"bert-base-uncased's MLM model: {exc}.")
    drop = before - after
    need = float(ctx.setting("pretrain_min_drop", 1e-4))
    where = (f"On {len(prep.heldout)} held-out reviews the masked-token loss went from "
             f"{before:.4f} (the checkpoint) to {after:.4f} (your pretrained weights)")
    if drop < need:
        hint = (" Your weights equal the checkpoint's on these texts: does the loop call "
                "optimizer.step() (and backward() on the MLM loss)?" if abs(drop) < 1e-7 else
                " Is the loss the MLM loss of the masked ids (labels -100 off the selected "
                "tokens), and is pretrain_lr positive and at most 1e-3?")
        return Verdict.failed(f"{where}: a drop of {drop:.2g}; at least {need:g} is expected "
                              f"after your QUICK pretraining steps.{hint}",
                              drop=drop)
    return Verdict.passed(f"{where}, a drop of {drop:.2g} (from {taken} tensors of "
                          f"{out.data.get('weights_from')}).",
                          drop=drop)
