"""Deterministic probe inputs for CS310 A6, built in the trusted parent.

Batches with different lengths and padding, masked positions that are unsorted, repeated and at 0,
a [PAD]-extended copy and a copy whose last real token differs; and randomised weights in which no
parameter keeps its initial value (so a bug involving a bias or a LayerNorm gain is visible).
"""

from __future__ import annotations

import math

import torch

PAD, CLS, SEP = 0, 2, 3
LENGTHS = (12, 9, 15, 7)
MASKED_POS = ((7, 2, 10, 4, 1), (3, 3, 5, 1, 1), (0, 14, 6, 9, 2), (2, 5, 0, 0, 0))
EXTRA_PADS = 3


def forward_inputs(vocab_size: int, max_pred: int, seed: int = 1) -> dict[str, torch.Tensor]:
    """4 sequences ``[CLS] A [SEP] B [SEP]`` plus their [PAD]-extended and altered twins."""
    gen = torch.Generator().manual_seed(seed)
    width = max(LENGTHS)
    ids = torch.zeros(len(LENGTHS), width, dtype=torch.long)
    seg = torch.zeros_like(ids)
    for b, length in enumerate(LENGTHS):
        split = length // 2
        ids[b, :length] = torch.randint(5, vocab_size, (length,), generator=gen)
        ids[b, 0], ids[b, split], ids[b, length - 1] = CLS, SEP, SEP
        seg[b, : split + 1] = 1
        seg[b, split + 1 : length] = 2
    pos = torch.tensor([list(p[:max_pred]) + [0] * (max_pred - len(p)) for p in MASKED_POS])
    pad_ids = torch.cat([ids, torch.zeros(len(LENGTHS), EXTRA_PADS, dtype=torch.long)], dim=1)
    pad_seg = torch.cat([seg, torch.zeros(len(LENGTHS), EXTRA_PADS, dtype=torch.long)], dim=1)
    alt_ids = ids.clone()
    for b, length in enumerate(LENGTHS):
        # the last real token before the final [SEP] gets another id
        alt_ids[b, length - 2] = 5 + (int(ids[b, length - 2]) - 5 + 17) % (vocab_size - 5)
    return {
        "input_ids": ids,
        "segment_ids": seg,
        "masked_pos": pos,
        "pad.input_ids": pad_ids,
        "pad.segment_ids": pad_seg,
        "alt.input_ids": alt_ids,
        "alt.segment_ids": seg.clone(),
    }


def encoder_inputs(d_model: int, seed: int = 2) -> dict[str, torch.Tensor]:
    """Hidden states ``x`` [4, 15, d_model] and ``input_ids`` whose zeros mark [PAD] keys."""
    gen = torch.Generator().manual_seed(seed)
    ids = forward_inputs(50, 5, seed)["input_ids"]
    return {"x": torch.randn(ids.size(0), ids.size(1), d_model, generator=gen), "input_ids": ids}


def random_weights(shapes: dict[str, list[int]], seed: int = 3) -> dict[str, torch.Tensor]:
    """A full set of randomised weights for the given state_dict layout.

    Buffers (the sinusoidal ``pe``) are left out; the tied decoder gets the embedding's values.
    """
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name in sorted(shapes):
        shape = shapes[name]
        if name.endswith(".pe") or name == "decoder.weight":
            continue
        leaf = name.rsplit(".", 1)[-1]
        noise = torch.randn(*shape, generator=gen)
        if leaf == "weight" and ("norm" in name):
            value = 1.0 + 0.2 * noise
        elif leaf == "bias" or name == "decoder_bias":
            value = 0.2 * noise
        elif "embed" in name:
            value = 0.5 * noise
        else:
            value = noise / math.sqrt(shape[-1])
        out[name] = value
    if "embedding.tok_embed.weight" in out and "decoder.weight" in shapes:
        out["decoder.weight"] = out["embedding.tok_embed.weight"].clone()
    return out


def expected_state_dict(cfg: dict[str, int]) -> dict[str, list[int]]:
    """The framework's state_dict layout (names and shapes) for a config: the grading contract."""
    d, ff, v = cfg["d_model"], cfg["d_ff"], cfg["VOCAB_SIZE"]
    hk, hv = cfg["n_heads"] * cfg["d_k"], cfg["n_heads"] * cfg["d_v"]
    keys: dict[str, list[int]] = {
        "embedding.tok_embed.weight": [v, d],
        "embedding.pos_embed.pe": [1, cfg["MAX_LEN"], d],
        "embedding.seg_embed.weight": [cfg["n_segments"] + 1, d],
        "embedding.norm.weight": [d],
        "embedding.norm.bias": [d],
    }
    for i in range(cfg["n_layers"]):
        p = f"layers.{i}."
        for name, out_dim in (("W_Q", hk), ("W_K", hk), ("W_V", hv)):
            keys[f"{p}enc_self_attn.{name}.weight"] = [out_dim, d]
            keys[f"{p}enc_self_attn.{name}.bias"] = [out_dim]
        keys[f"{p}enc_self_attn.fc.weight"] = [d, hv]
        keys[f"{p}enc_self_attn.fc.bias"] = [d]
        keys[f"{p}enc_self_attn.layer_norm.weight"] = [d]
        keys[f"{p}enc_self_attn.layer_norm.bias"] = [d]
        keys[f"{p}pos_ffn.fc1.weight"] = [ff, d]
        keys[f"{p}pos_ffn.fc1.bias"] = [ff]
        keys[f"{p}pos_ffn.fc2.weight"] = [d, ff]
        keys[f"{p}pos_ffn.fc2.bias"] = [d]
    keys.update(
        {
            "fc1.weight": [d, d],
            "fc1.bias": [d],
            "classifier.weight": [2, d],
            "classifier.bias": [2],
            "fc2.weight": [d, d],
            "fc2.bias": [d],
            "norm.weight": [d],
            "norm.bias": [d],
            "decoder.weight": [v, d],
            "decoder_bias": [v],
        }
    )
    return keys


def encoder_layer_weights(full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weights of ``layers.0`` renamed for a standalone ``EncoderLayer``."""
    prefix = "layers.0."
    return {k[len(prefix) :]: v for k, v in full.items() if k.startswith(prefix)}
