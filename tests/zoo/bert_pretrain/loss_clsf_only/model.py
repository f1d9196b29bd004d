"""CS310 Assignment 6: a mini BERT for masked-language modelling (MLM) and next-sentence
prediction (NSP).
"""

import math

import numpy as np
import torch
import torch.nn as nn
from config import *


class PositionalEmbedding(nn.Module):
    """Fixed sinusoidal position encodings, stored in the (non-trainable) buffer ``pe``."""

    def __init__(self, d_model, max_len=MAX_LEN):
        super().__init__()
        pe = torch.zeros(max_len, d_model).float()
        position = torch.arange(0, max_len).float().unsqueeze(1)
        div_term = (torch.arange(0, d_model, 2).float() * -(math.log(10000.0) / d_model)).exp()
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0))

    def forward(self, x):
        return self.pe[:, : x.size(1)]


class Embedding(nn.Module):
    """Token + position + segment embeddings, then LayerNorm."""

    def __init__(self):
        super().__init__()
        self.tok_embed = nn.Embedding(VOCAB_SIZE, d_model, padding_idx=0)
        self.pos_embed = PositionalEmbedding(d_model, MAX_LEN)
        self.seg_embed = nn.Embedding(n_segments + 1, d_model, padding_idx=0)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x, seg):
        embedding = self.tok_embed(x) + self.pos_embed(x) + self.seg_embed(seg)
        return self.norm(embedding)


class ScaledDotProductAttention(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, Q, K, V, attn_mask):
        # Q, K, V: [batch_size, n_heads, seq_len, d_k]
        # attn_mask: [batch_size, n_heads, seq_len, seq_len]
        scores = torch.matmul(Q, K.transpose(-1, -2)) / np.sqrt(d_k)
        scores = scores.masked_fill(attn_mask, -1e9)  # masked (padding) keys get ~0 weight
        attn = nn.Softmax(dim=-1)(scores)
        context = torch.matmul(attn, V)
        return context, attn


class MultiHeadAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.W_Q = nn.Linear(d_model, d_k * n_heads)
        self.W_K = nn.Linear(d_model, d_k * n_heads)
        self.W_V = nn.Linear(d_model, d_v * n_heads)
        self.fc = nn.Linear(n_heads * d_v, d_model)
        self.layer_norm = nn.LayerNorm(d_model)

    def forward(self, x, attn_mask):
        residual, batch_size = x, x.size(0)
        # [batch_size, seq_len, d_model] -> [batch_size, n_heads, seq_len, d_k]
        q_s = self.W_Q(x).view(batch_size, -1, n_heads, d_k).transpose(1, 2)
        k_s = self.W_K(x).view(batch_size, -1, n_heads, d_k).transpose(1, 2)
        v_s = self.W_V(x).view(batch_size, -1, n_heads, d_v).transpose(1, 2)
        attn_mask = attn_mask.unsqueeze(1).repeat(1, n_heads, 1, 1)
        context, attn = ScaledDotProductAttention()(q_s, k_s, v_s, attn_mask)
        context = context.transpose(1, 2).contiguous().view(batch_size, -1, n_heads * d_v)
        output = self.fc(context)
        return self.layer_norm(output + residual), attn


def gelu(x):
    """GELU, the exact (erf) form used by the original BERT."""
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def get_pad_attn_mask(seq_q, seq_k):
    """True where the key is [PAD] (id 0): [batch_size, len_q, len_k]."""
    batch_size, len_q = seq_q.size()
    batch_size, len_k = seq_k.size()
    pad_attn_mask = seq_k.data.eq(0).unsqueeze(1)
    return pad_attn_mask.expand(batch_size, len_q, len_k)


class PoswiseFeedForwardNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)
        self.fc2 = nn.Linear(d_ff, d_model)

    def forward(self, x):
        # [batch_size, seq_len, d_model] -> [batch_size, seq_len, d_ff]
        #                                -> [batch_size, seq_len, d_model]
        return self.fc2(gelu(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc_self_attn = MultiHeadAttention()
        self.pos_ffn = PoswiseFeedForwardNet()

    def forward(self, enc_inputs, enc_self_attn_mask):
        enc_outputs, attn = self.enc_self_attn(enc_inputs, enc_self_attn_mask)
        enc_outputs = self.pos_ffn(enc_outputs)
        return enc_outputs, attn


class BERT(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = Embedding()
        self.layers = nn.ModuleList([EncoderLayer() for _ in range(n_layers)])
        self.fc1 = nn.Linear(d_model, d_model)
        self.activ1 = nn.Tanh()
        self.classifier = nn.Linear(d_model, 2)
        self.fc2 = nn.Linear(d_model, d_model)
        self.activ2 = gelu
        self.norm = nn.LayerNorm(d_model)
        # The MLM decoder shares its weight with the token embedding (weight tying).
        embed_weight = self.embedding.tok_embed.weight
        self.decoder = nn.Linear(d_model, VOCAB_SIZE, bias=False)
        self.decoder.weight = embed_weight
        self.decoder_bias = nn.Parameter(torch.zeros(VOCAB_SIZE))

    def forward(self, input_ids, segment_ids, masked_pos):
        output = self.embedding(input_ids, segment_ids)
        enc_self_attn_mask = get_pad_attn_mask(input_ids, input_ids)
        for layer in self.layers:
            output, _ = layer(output, enc_self_attn_mask)
        # output: [batch_size, seq_len, d_model]

        h_pooled = self.activ1(self.fc1(output[:, 0]))
        logits_clsf = self.classifier(h_pooled)

        masked_pos = masked_pos[:, :, None].expand(-1, -1, output.size(-1))
        h_masked = torch.gather(output, 1, masked_pos)
        h_masked = self.norm(self.activ2(self.fc2(h_masked)))
        logits_lm = self.decoder(h_masked) + self.decoder_bias

        return logits_lm, logits_clsf
