"""Hyper-parameters of the mini BERT (CS310 Assignment 6).

``vocab.txt`` is read from the current working directory: run the scripts from this folder.
"""

from vocab import load_vocab

MAX_LEN = 128  # longest sequence ([CLS] A [SEP] B [SEP]) a batch may contain
MAX_PRED = 5  # most masked tokens predicted per sequence
word_to_id, id_to_word = load_vocab("vocab.txt")
VOCAB_SIZE = len(word_to_id)
BATCH_SIZE = 6
n_epochs = 1

n_layers = 6  # number of encoder layers
n_heads = 12  # number of attention heads
d_model = 768  # embedding size
d_ff = 768 * 4  # feed-forward hidden size
d_k = d_v = 64  # size of K(=Q) and V per head
n_segments = 2
