"""Character-level vocabulary for the mini BERT.

Ids 0-4 are the special tokens; a character joins the vocabulary (with the next free id) when
it has been seen for the third time in the training file.
"""

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MIN_COUNT = 3


def tokenizer(text):
    """Split a line into characters."""
    return list(text)


def build_vocab(train_file, tokenizer):
    """Read ``train_file`` (one sentence per line) and build the vocabulary.

    Returns ``(word_to_id, id_to_word, input_ids_list)``, where ``input_ids_list`` holds the ids of
    every non-empty stripped line (characters outside the vocabulary become [UNK]).
    """
    word_to_id = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    counts = {}
    sentences = []
    with open(train_file, encoding="utf-8") as f:
        for line in f:
            tokens = tokenizer(line.strip())
            if not tokens:
                continue
            sentences.append(tokens)
            for token in tokens:
                counts[token] = counts.get(token, 0) + 1
                if counts[token] == MIN_COUNT and token not in word_to_id:
                    word_to_id[token] = len(word_to_id)
    id_to_word = {i: token for token, i in word_to_id.items()}
    input_ids_list = [encode(tokens, word_to_id) for tokens in sentences]
    return word_to_id, id_to_word, input_ids_list


def encode(tokens, word_to_id):
    """Map tokens to ids; unknown tokens become [UNK]."""
    unk = word_to_id["[UNK]"]
    return [word_to_id.get(token, unk) for token in tokens]


def save_vocab(word_to_id, vocab_file):
    """Write one ``word<TAB>id`` line per entry, in id order."""
    with open(vocab_file, "w", encoding="utf-8") as f:
        for word, i in sorted(word_to_id.items(), key=lambda item: item[1]):
            f.write(f"{word}\t{i}\n")


def load_vocab(vocab_file):
    """Read a file written by ``save_vocab``; returns ``(word_to_id, id_to_word)``."""
    word_to_id = {}
    with open(vocab_file, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            word, i = line.rsplit("\t", 1)
            word_to_id[word] = int(i)
    id_to_word = {i: word for word, i in word_to_id.items()}
    return word_to_id, id_to_word


def load_sentences(train_file, word_to_id):
    """Map every non-empty stripped line of ``train_file`` to ids with an existing vocabulary."""
    with open(train_file, encoding="utf-8") as f:
        return [encode(tokenizer(line.strip()), word_to_id) for line in f if line.strip()]


if __name__ == "__main__":
    word_to_id, _, _ = build_vocab("data_clean.txt", tokenizer)
    save_vocab(word_to_id, "vocab.txt")
    print(f"vocab.txt: {len(word_to_id)} entries")
