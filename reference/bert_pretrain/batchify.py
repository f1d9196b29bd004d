"""Turn a corpus (one sentence per line) into pre-training batches for the mini BERT.

Every batch is built from a slice of ``batch_size`` consecutive sentences: half of its examples
are IsNext pairs (B follows A in the slice), half NotNext pairs. Each example is
``[input_ids, segment_ids, masked_tokens, masked_pos, isNext]``:

- ``input_ids``: ``[CLS] A [SEP] B [SEP]`` with some tokens masked, padded with 0 ([PAD]) to the
  longest sequence of the batch;
- ``segment_ids``: 1 for [CLS], A and the first [SEP]; 2 for B and the last [SEP]; 0 for padding;
- ``masked_tokens`` / ``masked_pos``: the original ids and the positions of the masked tokens,
  zero-padded to MAX_PRED;
- ``isNext``: True iff B is the sentence after A.

Unlike the course's first version this script is seeded: the same corpus and seed give the same
batches, byte for byte.
"""

import pickle
import random

from vocab import build_vocab, save_vocab, tokenizer

# Same values as config.py; repeated here so that batchify.py can run before vocab.txt exists.
MAX_LEN = 128
MAX_PRED = 5
BATCH_SIZE = 6
SEED = 0

_rng = random.Random(SEED)


def make_example(tokens_a, tokens_b, is_next, word_to_id, rng, max_pred=MAX_PRED):
    """One example (without padding of input_ids / segment_ids)."""
    cls_id, sep_id, mask_id = word_to_id["[CLS]"], word_to_id["[SEP]"], word_to_id["[MASK]"]
    vocab_size = len(word_to_id)
    input_ids = [cls_id, *tokens_a, sep_id, *tokens_b, sep_id]
    segment_ids = [1] * (1 + len(tokens_a) + 1) + [2] * (len(tokens_b) + 1)

    # 15 % of the tokens (at least 1, at most max_pred), never [CLS] or [SEP]
    n_pred = min(max_pred, max(1, round(len(input_ids) * 0.15)))
    candidates = [i for i, token in enumerate(input_ids) if token != cls_id and token != sep_id]
    rng.shuffle(candidates)
    masked_tokens, masked_pos = [], []
    for pos in candidates[:n_pred]:
        masked_pos.append(pos)
        masked_tokens.append(input_ids[pos])
        p = rng.random()
        if p < 0.8:  # 80 %: [MASK]
            input_ids[pos] = mask_id
        elif p < 0.9:  # 10 %: a random token (never a special token below [MASK])
            input_ids[pos] = rng.randint(4, vocab_size - 1)
        # 10 %: keep the original token

    n_pad = max_pred - len(masked_tokens)
    masked_tokens.extend([0] * n_pad)
    masked_pos.extend([0] * n_pad)
    return [input_ids, segment_ids, masked_tokens, masked_pos, is_next]


def make_batch(input_ids_list, batch_size, word_to_id, rng=None, max_pred=MAX_PRED):
    """One batch from the sentences of ``input_ids_list`` (a slice of consecutive sentences).

    Returns ``batch_size`` examples, half IsNext and half NotNext, in random order, with
    ``input_ids`` and ``segment_ids`` padded to the longest sequence of the batch.
    """
    rng = _rng if rng is None else rng
    n = len(input_ids_list)
    if n < 3:
        raise ValueError("make_batch needs a slice of at least 3 sentences")
    n_positive = batch_size // 2
    batch = []
    for k in range(batch_size):
        i = rng.randrange(n - 1)
        if k < n_positive:
            j = i + 1
        else:
            j = rng.randrange(n)
            while j == i + 1 or j == i:
                j = rng.randrange(n)
        batch.append(make_example(list(input_ids_list[i]), list(input_ids_list[j]), j == i + 1,
                                  word_to_id, rng, max_pred))
    rng.shuffle(batch)

    # dynamic padding: pad to the longest sequence of this batch
    longest = max(len(example[0]) for example in batch)
    for example in batch:
        n_pad = longest - len(example[0])
        example[0].extend([0] * n_pad)
        example[1].extend([0] * n_pad)
    return batch


def make_batches(input_ids_list, batch_size, word_to_id, seed=SEED, max_len=MAX_LEN,
                 max_pred=MAX_PRED, offset=0):
    """All batches of one pass over the corpus, one per slice of ``batch_size`` sentences.

    Slices start at ``offset``; incomplete slices at the end are skipped, and so are batches whose
    longest sequence is longer than ``max_len``.
    """
    rng = random.Random(seed)
    batches = []
    for start in range(offset, len(input_ids_list) - batch_size + 1, batch_size):
        batch = make_batch(input_ids_list[start:start + batch_size], batch_size, word_to_id, rng,
                           max_pred)
        if len(batch[0][0]) <= max_len:
            batches.append(batch)
    return batches


def main(train_file="data_clean.txt", vocab_file="vocab.txt", batches_file="batches.pkl",
         seed=SEED):
    word_to_id, _, input_ids_list = build_vocab(train_file, tokenizer)
    save_vocab(word_to_id, vocab_file)
    batches = make_batches(input_ids_list, BATCH_SIZE, word_to_id, seed=seed)
    with open(batches_file, "wb") as f:
        pickle.dump(batches, f)
    print(f"{vocab_file}: {len(word_to_id)} entries; {batches_file}: {len(batches)} batches")


if __name__ == "__main__":
    main()
