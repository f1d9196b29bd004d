"""A neutral stand-in for the student's BERT, used to judge ``train.py``'s loop on its own.

It has the framework's interface (``BERT()``, ``forward(input_ids, segment_ids, masked_pos) ->
(logits_lm [B, MAX_PRED, VOCAB_SIZE], logits_clsf [B, 2])``) but is not the solution: a bag of
embeddings with linear heads. Its initial weights come from its own seeded generator, so its whole
training trajectory is fixed by the batches and the loop; the grader recomputes it in the parent.
Every parameter gets a gradient from a correct loop: ``clsf`` only from the NSP loss, ``lm`` and
``mix`` only from the MLM loss, the embeddings from both.
"""

import torch
import torch.nn as nn
from config import MAX_PRED, VOCAB_SIZE, n_segments

WIDTH = 24
INIT_SEED = 31337


class BERT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB_SIZE, WIDTH)
        self.seg = nn.Embedding(n_segments + 1, WIDTH)
        self.mix = nn.Linear(2 * WIDTH, WIDTH)
        self.lm = nn.Linear(WIDTH, VOCAB_SIZE)
        self.clsf = nn.Linear(WIDTH, 2)
        gen = torch.Generator().manual_seed(INIT_SEED)
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.randn(param.shape, generator=gen) * 0.3)

    def forward(self, input_ids, segment_ids, masked_pos):
        real = input_ids.ne(0).unsqueeze(-1).float()
        h = (self.tok(input_ids) + self.seg(segment_ids)) * real
        pooled = h.sum(1) / real.sum(1).clamp(min=1.0)
        idx = masked_pos[:, :MAX_PRED, None].expand(-1, -1, WIDTH)
        picked = torch.gather(h, 1, idx)
        both = torch.cat([picked, pooled[:, None].expand_as(picked)], dim=-1)
        logits_lm = self.lm(torch.tanh(self.mix(both)))
        logits_clsf = self.clsf(torch.tanh(pooled))
        return logits_lm, logits_clsf
