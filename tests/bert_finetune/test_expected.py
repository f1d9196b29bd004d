"""The parent's recomputations (``expected.py``) agree with transformers' and torch's own, and
with the reference solution run in this test process; each buggy variant is told apart."""

from __future__ import annotations

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from grader.assignments.bert_finetune import cases as C
from grader.assignments.bert_finetune import expected as E
from tests.bert_finetune.helpers import load_classifier, tiny_cache


@pytest.fixture(scope="module")
def tok():
    return E.tokenizer(E.snapshot_path(tiny_cache()))


@pytest.fixture(scope="module")
def ref():
    return load_classifier()


def test_vectorized_equals_the_tokenizers_own_call(tok) -> None:
    for _, text, label, seq_len in C.VECTORIZE + C.EDGES:
        want = E.vectorized(tok, text, label, seq_len)
        hf = tok(text, truncation=True, max_length=seq_len, padding="max_length")
        assert want["ids"] == hf["input_ids"]
        assert want["mask"] == hf["attention_mask"]
        assert want["seg"] == hf["token_type_ids"]
    long = E.vectorized(tok, C.LONG, "neg", 128)
    assert long["real"] == 128 and len(tok.tokenize(C.LONG)) > 512
    assert E.vectorized(tok, "", "pos", 8)["ids"] == [101, 102, 0, 0, 0, 0, 0, 0]


def test_reference_vectorize_and_head_tail(ref, tok) -> None:
    for _, text, label, seq_len in C.VECTORIZE + C.EDGES:
        ids, seg, mask, lab = ref.vectorize_ex(text, label, seq_len)
        want = E.vectorized(tok, text, label, seq_len)
        assert (ids, seg, mask, lab) == (want["ids"], want["seg"], want["mask"], want["label"])
    for _, text, head, tail in C.HEAD_TAIL:
        assert ref.head_tail(text, head, tail).split() == E.head_tail_words(text, head, tail)
    assert E.head_tail_words("a b c d e", 0, 2) == ["d", "e"]
    assert E.head_tail_words("a b c d e", 2, 0) == ["a", "b"]


def test_schedule_factor_is_transformers_linear_schedule() -> None:
    from transformers import get_linear_schedule_with_warmup

    for warmup, total in C.SCHEDULES:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = get_linear_schedule_with_warmup(opt, warmup, total)
        for step in range(total + 1):
            assert opt.param_groups[0]["lr"] == pytest.approx(
                E.schedule_factor(step, warmup, total), abs=1e-12)
            opt.step()
            sched.step()


def _epoch_grads(train_epoch, accum: int, clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    a = C.ACCUM
    state = E.micro_state(a["seed"])
    batches = E.micro_batches(a["seed"], a["n_micro"], a["batch"], a["length"])
    model = E.micro_model(state)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    seen = []
    handle = register_optimizer_step_pre_hook(lambda o, *_: seen.append(torch.cat(
        [p.grad.reshape(-1).clone() for p in model.parameters()])))
    try:
        train_epoch(model, [tuple(batches[k][i] for k in ("ids", "seg", "mask", "labels"))
                            for i in range(a["n_micro"])], opt, sched, accum, clip)
    finally:
        handle.remove()
    return torch.stack(seen), E.step_gradients(state, batches, accum, None if clip > 1e8 else clip)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_accumulated_gradient_matches_the_reference_and_not_a_bug(ref) -> None:
    got, want = _epoch_grads(ref.train_epoch, C.ACCUM["accum"], 1e9)
    assert got.shape == want.shape == (2, want.shape[1])
    assert max(_rel(got[i], want[i]) for i in range(2)) < 1e-5  # ~1e-7 measured

    def undivided(model, batches, optimizer, scheduler, accum_steps=1, clip=None):
        model.train()
        for i, (ids, seg, mask, y) in enumerate(batches, 1):
            model(input_ids=ids, token_type_ids=seg, attention_mask=mask, labels=y).loss.backward()
            if i % accum_steps == 0:
                ref.optimizer_step(model, optimizer, scheduler, clip)
        return {}

    bad, want = _epoch_grads(undivided, C.ACCUM["accum"], 1e9)
    assert _rel(bad[0], want[0]) == pytest.approx(C.ACCUM["accum"] - 1, rel=1e-4)
    clipped, want = _epoch_grads(ref.train_epoch, C.ACCUM["accum"], C.CLIP)
    assert float(clipped[0].norm()) == pytest.approx(C.CLIP, rel=1e-4)
    assert _rel(clipped[0], want[0]) < 1e-5


def test_optimizer_step_matches_the_reference_and_tells_rules_apart(ref) -> None:
    o = C.OPTIMIZER
    state = E.micro_state(o["seed"], scale=0.5)
    grads = E.optimizer_grads(o["seed"], o["steps"])
    for name in ("adam", "adamw"):
        model = E.micro_model(state)
        opt = ref.make_optimizer(model, name, o["lr"], o["weight_decay"])
        for g in grads:
            for n, p in model.named_parameters():
                p.grad = g[n].clone()
            opt.step()
        got = {n: p.detach() for n, p in model.named_parameters()}

        def off(want, got=got) -> float:
            return max(float((got[k] - want[k]).abs().max()) for k in got)

        args = (state, grads, name, o["lr"], o["weight_decay"])
        assert off(E.optimizer_step(*args)) <= 1e-7
        for rule in ("all", "none"):  # every wrong rule is far outside the 1e-5 tolerance
            assert off(E.optimizer_step(*args, rule=rule)) > 1e-3
        other = "adam" if name == "adamw" else "adamw"
        assert off(E.optimizer_step(state, grads, other, o["lr"], o["weight_decay"])) > 1e-3


def test_reference_masking_rates(ref, tok) -> None:
    from grader.assignments.bert_finetune import reviews

    texts = reviews.make_parts()["train"][0][: C.MASK_ROWS]
    ids = E.masking_ids(tok, texts, C.MASK_SEQ)
    masked, labels = ref.mask_tokens(ids.clone(), torch.Generator().manual_seed(C.MASK_SEED))
    special = (ids == 101) | (ids == 102) | (ids == 0)
    selected = labels != -100
    assert not (selected & special).any()
    assert abs(selected.sum().item() / (~special).sum().item() - 0.15) < 0.03
    assert torch.equal(masked[~selected], ids[~selected])


def test_micro_state_ignores_other_threads_drawing_from_the_global_rng() -> None:
    """Grading threads share torch's global generator; the parent's seeded weights must not."""
    import threading

    want = E.micro_state(C.ACCUM["seed"])
    stop = threading.Event()

    def draw() -> None:
        while not stop.is_set():
            torch.rand(64)
            torch.nn.Linear(32, 32)  # a model's init draws from the global generator too

    other = threading.Thread(target=draw)
    other.start()
    try:
        got = [E.micro_state(C.ACCUM["seed"]) for _ in range(30)]
    finally:
        stop.set()
        other.join()
    assert all(all(torch.equal(g[k], want[k]) for k in want) for g in got)
