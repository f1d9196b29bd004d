"""The project's own movie-review set (FILIMDB layout), written by this module, not collected.

Every review is composed here from phrase lists with a fixed seed, so the set is ours to
redistribute (MIT, like the code) and CI needs no course data. It is synthetic: sentiment words
carry the label, some reviews put their verdict only at the end (head/tail truncation matters),
some negate ("not bad"), some run past 512 WordPiece tokens and some use non-ASCII names. Use a
real ``FILIMDB/`` folder (rubric setting ``data_dir``) for grading that means anything.

    python -m grader.assignments.bert_finetune.reviews OUT_DIR   # write the FILIMDB folder
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

PARTS = {"train": 320, "dev": 96, "test": 96, "dev-b": 64, "test-b": 64}
UNLABELED = 160

TITLES = ["The Long Harbour", "Nightfall Express", "Amélie's Garden", "Paper Moons", "Iron Tide",
          "The Quiet Year", "Señor Blue", "Glass Rivers", "The Björk Sessions", "Little Comets",
          "A Winter in Kraków", "Red Static", "The Café on Rue Noir", "Overland", "Saltwater"]
GENRES = ["thriller", "comedy", "drama", "western", "musical", "documentary", "horror film",
          "romance", "science-fiction film", "mystery"]
ASPECTS = ["acting", "plot", "script", "soundtrack", "direction", "cinematography", "pacing",
           "ending", "dialogue", "cast", "editing", "score", "lead performance", "screenplay"]
POS_ADJ = ["wonderful", "brilliant", "moving", "superb", "gripping", "charming", "excellent",
           "delightful", "memorable", "powerful", "beautiful", "clever", "touching", "fantastic"]
NEG_ADJ = ["dreadful", "boring", "clumsy", "awful", "tedious", "lifeless", "terrible",
           "predictable", "dull", "painful", "forgettable", "messy", "weak", "disappointing"]
INTENS = ["", "", "really ", "truly ", "quite ", "utterly ", "simply ", "rather "]
NEUTRAL = [
    "I saw it on a rainy Sunday with two friends.",
    "The story follows a family over three summers by the sea.",
    "It runs a little over two hours.",
    "The film was shot in a small town in the north.",
    "Most of the scenes take place in one old house.",
    "The director had made two documentaries before this one.",
    "There is a long flashback in the middle of the second act.",
    "The trailer gives away less than usual.",
    "My cousin recommended it after a festival screening.",
    "It is loosely based on a novel from the nineteen-sixties.",
    "The opening scene is a wedding, and the closing one a funeral.",
    "The naïve young clerk at the centre of it is played by a newcomer.",
]
POS_VERDICT = ["I would happily watch it again.", "Highly recommended.",
               "One of the best films I have seen this year.", "Go and see it.",
               "It stayed with me for days.", "A real pleasure from start to finish."]
NEG_VERDICT = ["I would not watch it again.", "Avoid it.", "A waste of two hours.",
               "One of the worst films I have seen this year.", "I nearly walked out.",
               "Skip this one."]


def _opinion(rng: random.Random, positive: bool) -> str:
    """One sentence of opinion about one aspect, sometimes negating the opposite adjective."""
    aspect = rng.choice(ASPECTS)
    if rng.random() < 0.2:  # "not bad" / "not great": the label-bearing word is negated
        adj = rng.choice(NEG_ADJ if positive else POS_ADJ)
        return f"The {aspect} is not {adj} at all."
    adj = rng.choice(POS_ADJ if positive else NEG_ADJ)
    return rng.choice([f"The {aspect} is {rng.choice(INTENS)}{adj}.",
                       f"What a {adj} {aspect}.",
                       f"I found the {aspect} {rng.choice(INTENS)}{adj}."])


def review(rng: random.Random, positive: bool, *, short: bool = False) -> str:
    """One review: an opening, neutral filler, opinions, a verdict (the end carries the label)."""
    title, genre = rng.choice(TITLES), rng.choice(GENRES)
    if short:  # an SST-like snippet for the -b parts
        return f"{title} : {_opinion(rng, positive).lower()}"
    n_filler = rng.choice([1, 2, 3, 6, 12, 40, 90]) if rng.random() < 0.3 else rng.randint(1, 4)
    n_opinion = rng.randint(1, 4)
    verdict_only_at_end = rng.random() < 0.25
    sentences = [f"{title} is a {genre}."]
    body = [rng.choice(NEUTRAL) for _ in range(n_filler)]
    if not verdict_only_at_end:
        body += [_opinion(rng, positive) for _ in range(n_opinion)]
    rng.shuffle(body)
    sentences += body
    sentences.append(rng.choice(POS_VERDICT if positive else NEG_VERDICT))
    text = " ".join(sentences)
    return " ".join(text.split())  # one line, single spaces


def make_parts(seed: int = 13) -> dict[str, tuple[list[str], list[str] | None]]:
    """Every part of the set: ``{part: (texts, labels or None)}``, balanced labels, seeded."""
    rng = random.Random(seed)
    parts: dict[str, tuple[list[str], list[str] | None]] = {}
    for part, n in PARTS.items():
        labels = ["pos" if i % 2 == 0 else "neg" for i in range(n)]
        rng.shuffle(labels)
        texts = [review(rng, lab == "pos", short=part.endswith("-b")) for lab in labels]
        parts[part] = (texts, labels)
    unlabeled = [review(rng, rng.random() < 0.5, short=rng.random() < 0.3)
                 for _ in range(UNLABELED)]
    parts["train_unlabeled"] = (unlabeled, None)
    return parts


def write_filimdb(out: Path, seed: int = 13) -> Path:
    """Write the set as a FILIMDB folder (``{part}.texts``, ``{part}.labels``) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for part, (texts, labels) in make_parts(seed).items():
        (out / f"{part}.texts").write_text("\n".join(texts) + "\n", encoding="utf-8")
        if labels is not None:
            (out / f"{part}.labels").write_text("\n".join(labels) + "\n", encoding="utf-8")
    (out / "NOTICE.md").write_text(
        "Synthetic movie reviews written by nlpgrade (grader/assignments/bert_finetune/"
        f"reviews.py), seed {seed}. Redistributable under the project's licence.\n",
        encoding="utf-8")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m grader.assignments.bert_finetune.reviews OUT_DIR")
    print(write_filimdb(Path(sys.argv[1])))
