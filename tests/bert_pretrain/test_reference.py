"""The reference solution of ``bert_pretrain`` in the ``small`` profile: shapes, the state_dict
contract, weight tying, the pad mask, and (slow) that it trains below the loss threshold."""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from grader.assignments.bert_pretrain.kit import Kit, build_kit

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "reference" / "bert_pretrain"
COURSE_MODULES = ("config", "vocab", "batchify", "model", "train", "eval")


@contextlib.contextmanager
def course_modules(workdir: Path, *names: str) -> Iterator[SimpleNamespace]:
    """Import course-style modules (``from config import *``, cwd-relative vocab.txt) from
    ``workdir``; cwd, ``sys.path`` and ``sys.modules`` are restored afterwards."""
    cwd = os.getcwd()
    saved = {n: sys.modules.pop(n) for n in COURSE_MODULES if n in sys.modules}
    sys.path.insert(0, str(workdir))
    os.chdir(workdir)
    try:
        yield SimpleNamespace(**{n: importlib.import_module(n) for n in names})
    finally:
        os.chdir(cwd)
        sys.path.remove(str(workdir))
        for n in COURSE_MODULES:
            sys.modules.pop(n, None)
        sys.modules.update(saved)


def workdir_with(kit: Kit, dest: Path, sources: Path, files: tuple[str, ...]) -> Path:
    """``dest`` holding the kit's framework files and vocab plus ``files`` from ``sources``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in (*kit.framework_files, kit.vocab_file):
        shutil.copy(kit.path(name), dest / name)
    for name in files:
        shutil.copy(sources / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def small_kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return build_kit("small", cache_dir=tmp_path_factory.mktemp("kits"))


@pytest.fixture(scope="module")
def ref(small_kit: Kit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    work = workdir_with(small_kit, tmp_path_factory.mktemp("ref"), REFERENCE, ("model.py",))
    with course_modules(work, "config", "model") as mods:
        torch.manual_seed(0)
        yield mods


def expected_state_dict_shapes(cfg: SimpleNamespace) -> dict[str, tuple[int, ...]]:
    """The contract: every key of a conformant BERT's state_dict, in order, with its shape."""
    d, v, ff, hk = cfg.d_model, cfg.VOCAB_SIZE, cfg.d_ff, cfg.n_heads * cfg.d_k
    keys: dict[str, tuple[int, ...]] = {
        "decoder_bias": (v,),
        "embedding.tok_embed.weight": (v, d),
        "embedding.pos_embed.pe": (1, cfg.MAX_LEN, d),
        "embedding.seg_embed.weight": (cfg.n_segments + 1, d),
        "embedding.norm.weight": (d,),
        "embedding.norm.bias": (d,),
    }
    for i in range(cfg.n_layers):
        p = f"layers.{i}."
        for w in ("W_Q", "W_K", "W_V"):
            keys[f"{p}enc_self_attn.{w}.weight"] = (hk, d)
            keys[f"{p}enc_self_attn.{w}.bias"] = (hk,)
        keys[f"{p}enc_self_attn.fc.weight"] = (d, cfg.n_heads * cfg.d_v)
        keys[f"{p}enc_self_attn.fc.bias"] = (d,)
        keys[f"{p}enc_self_attn.layer_norm.weight"] = (d,)
        keys[f"{p}enc_self_attn.layer_norm.bias"] = (d,)
        keys[f"{p}pos_ffn.fc1.weight"] = (ff, d)
        keys[f"{p}pos_ffn.fc1.bias"] = (ff,)
        keys[f"{p}pos_ffn.fc2.weight"] = (d, ff)
        keys[f"{p}pos_ffn.fc2.bias"] = (d,)
    keys.update({
        "fc1.weight": (d, d),
        "fc1.bias": (d,),
        "classifier.weight": (2, d),
        "classifier.bias": (2,),
        "fc2.weight": (d, d),
        "fc2.bias": (d,),
        "norm.weight": (d,),
        "norm.bias": (d,),
        "decoder.weight": (v, d),
    })
    return keys


def random_batch(
    cfg: SimpleNamespace, batch: int = 3, length: int = 17
) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(1)
    input_ids = torch.randint(5, cfg.VOCAB_SIZE, (batch, length), generator=gen)
    input_ids[:, 0] = 2
    input_ids[:, -3:] = 0  # padding
    segment_ids = torch.ones(batch, length, dtype=torch.long)
    segment_ids[:, -3:] = 0
    masked_pos = torch.randint(1, length - 3, (batch, cfg.MAX_PRED), generator=gen)
    return input_ids, segment_ids, masked_pos


def test_small_profile_values(ref: SimpleNamespace) -> None:
    cfg = ref.config
    assert (cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.d_ff, cfg.d_k, cfg.d_v) == (
        64, 2, 4, 256, 16, 16)
    assert (cfg.MAX_LEN, cfg.MAX_PRED, cfg.BATCH_SIZE) == (128, 5, 6)


def test_output_shapes(ref: SimpleNamespace) -> None:
    cfg = ref.config
    model = ref.model.BERT()
    input_ids, segment_ids, masked_pos = random_batch(cfg)
    logits_lm, logits_clsf = model(input_ids, segment_ids, masked_pos)
    assert logits_lm.shape == (3, cfg.MAX_PRED, cfg.VOCAB_SIZE)
    assert logits_clsf.shape == (3, 2)


def test_encoder_layer_shapes(ref: SimpleNamespace) -> None:
    cfg = ref.config
    layer = ref.model.EncoderLayer()
    input_ids, _, _ = random_batch(cfg)
    x = torch.randn(3, input_ids.size(1), cfg.d_model)
    mask = ref.model.get_pad_attn_mask(input_ids, input_ids)
    assert mask.shape == (3, 17, 17) and mask.dtype == torch.bool
    out, attn = layer(x, mask)
    assert out.shape == (3, 17, cfg.d_model)
    assert attn.shape == (3, cfg.n_heads, 17, 17)
    # padded keys get (almost) no attention
    assert attn[..., -3:].abs().max().item() < 1e-6


def test_state_dict_contract(ref: SimpleNamespace) -> None:
    state = ref.model.BERT().state_dict()
    expected = expected_state_dict_shapes(ref.config)
    assert list(state) == list(expected)
    assert {k: tuple(v.shape) for k, v in state.items()} == expected


def test_decoder_is_tied_to_token_embedding(ref: SimpleNamespace) -> None:
    model = ref.model.BERT()
    assert model.decoder.weight is model.embedding.tok_embed.weight
    assert model.decoder.bias is None
    assert isinstance(model.activ1, torch.nn.Tanh)
    assert model.activ2 is ref.model.gelu


def test_padding_does_not_change_real_tokens(ref: SimpleNamespace) -> None:
    cfg = ref.config
    model = ref.model.BERT().eval()
    input_ids, segment_ids, masked_pos = random_batch(cfg)
    longer_ids = torch.cat([input_ids, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    longer_seg = torch.cat([segment_ids, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        lm1, cls1 = model(input_ids, segment_ids, masked_pos)
        lm2, cls2 = model(longer_ids, longer_seg, masked_pos)
    torch.testing.assert_close(lm1, lm2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cls1, cls2, atol=1e-5, rtol=1e-5)


def test_positional_embedding_is_a_buffer(ref: SimpleNamespace) -> None:
    model = ref.model.BERT()
    names = {n for n, _ in model.named_parameters()}
    assert "embedding.pos_embed.pe" not in names
    pe = model.embedding.pos_embed(torch.zeros(1, 7, dtype=torch.long))
    assert pe.shape == (1, 7, ref.config.d_model)


@pytest.mark.slow
def test_reference_trains_below_threshold(small_kit: Kit, tmp_path: Path) -> None:
    """One epoch of the reference train.py on the kit's fixed train subset: loss <= 10."""
    work = workdir_with(small_kit, tmp_path, REFERENCE, ("model.py", "train.py", "eval.py"))
    shutil.copy(small_kit.path(small_kit.train_batches_file), work / "batches.pkl")
    # eval.py reads inputs and targets from one file: join the kit's two halves
    from safetensors.torch import load_file, save_file

    from grader.assignments.bert_pretrain.kit import eval_targets

    joined = load_file(str(small_kit.path(small_kit.eval_batches_file))) | eval_targets(small_kit)
    save_file(joined, str(work / "eval_batches.safetensors"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "train.py"], cwd=work, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Epoch 1/1, Batch 600/600" in run.stdout
    assert (work / "bert_model.pt").exists()
    with course_modules(work, "config", "model", "eval") as mods:
        model = mods.model.BERT()
        model.load_state_dict(torch.load(work / "bert_model.pt", weights_only=True))
        batches = mods.eval.load_batches(str(work / "eval_batches.safetensors"))
        fresh_loss, _, _ = mods.eval.evaluate(mods.model.BERT(), batches)
        loss, _, mlm_acc = mods.eval.evaluate(model, batches)
    assert fresh_loss > 15.0
    assert loss <= 10.0
    assert mlm_acc > 0.0
