"""The review data a grading run uses: an instructor's FILIMDB folder, or the project's own set.

Only the parent reads labels. What goes into a sandbox is chosen here: texts to train on with
their labels (training labels are not scored), texts to classify without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.assignments.bert_finetune import reviews

SCORED_PARTS = ("dev", "test", "dev-b", "test-b")


@dataclass(frozen=True)
class Part:
    """One FILIMDB part: texts and (for labelled parts) their labels."""

    texts: tuple[str, ...]
    labels: tuple[str, ...] | None


def read_filimdb(folder: Path) -> dict[str, Part]:
    """Every part found in ``folder`` (``{part}.texts`` with an optional ``{part}.labels``)."""
    parts: dict[str, Part] = {}
    for path in sorted(folder.glob("*.texts")):
        texts = tuple(path.read_text(encoding="utf-8").splitlines())
        lab = path.with_suffix(".labels")
        labels = tuple(lab.read_text(encoding="utf-8").split()) if lab.is_file() else None
        if labels is not None and len(labels) != len(texts):
            raise ValueError(f"{lab}: {len(labels)} labels for {len(texts)} texts")
        parts[path.stem] = Part(texts, labels)
    if "train" not in parts or parts["train"].labels is None:
        raise ValueError(f"{folder} has no labelled train part (train.texts + train.labels)")
    return parts


def load_parts(data_dir: str) -> dict[str, Part]:
    """The instructor's FILIMDB folder when ``data_dir`` is set, else the project's own set."""
    if data_dir:
        return read_filimdb(Path(data_dir).expanduser())
    return {name: Part(tuple(t), None if lab is None else tuple(lab))
            for name, (t, lab) in reviews.make_parts().items()}


@dataclass(frozen=True)
class Sample:
    """What the interface tier hands to the student's code (no label of ``eval_texts``)."""

    train_texts: list[str]
    train_labels: list[str]
    eval_texts: list[str]
    unlabeled_texts: list[str]


def interface_sample(parts: dict[str, Part], n_train: int = 64, n_eval: int = 32) -> Sample:
    """A balanced train sample that includes the longest train review (no truncation -> crash),
    the first ``n_eval`` texts of ``dev`` (or of the train part's rest) and some unlabelled texts.
    """
    train = parts["train"]
    assert train.labels is not None
    pos = [i for i, lab in enumerate(train.labels) if lab == "pos"][: n_train // 2]
    neg = [i for i, lab in enumerate(train.labels) if lab == "neg"][: n_train - len(pos)]
    chosen = sorted(pos + neg)
    longest = max(range(len(train.texts)), key=lambda i: len(train.texts[i].split()))
    if longest not in chosen:
        same = [i for i in chosen if train.labels[i] == train.labels[longest]]
        chosen[chosen.index(same[-1])] = longest
    source = parts.get("dev") or Part(train.texts[len(chosen):], None)
    unlabeled = parts.get("train_unlabeled") or Part(train.texts[-n_train:], None)
    return Sample(
        train_texts=[train.texts[i] for i in chosen],
        train_labels=[train.labels[i] for i in chosen],
        eval_texts=list(source.texts[:n_eval]),
        unlabeled_texts=list(unlabeled.texts[:n_train]),
    )


def heldout_texts(parts: dict[str, Part], sample: Sample, n: int = 32) -> list[str]:
    """Texts no default-tier probe sends into the sandbox (the first of ``test``, else of the
    train part outside the sample), on which the parent scores the MLM loss of ``pretrain``."""
    sent = set(sample.train_texts) | set(sample.eval_texts) | set(sample.unlabeled_texts)
    pool = list(parts["test"].texts) if "test" in parts else list(parts["train"].texts)
    return [t for t in pool if t not in sent and t.strip()][:n]
