"""summary.png: whole-word labels, a colour legend, integer counts (the PNG itself is looked at)."""

from __future__ import annotations

from grader.exporters.charts import RATE_COLOURS, rate_colour, wrap_label, write_charts
from grader.exporters.stats import class_stats

from .conftest import make_result

LONG = "attention is bidirectional (no causal mask) and ignores [PAD] keys in every layer"


def test_labels_break_between_words_only():
    label = wrap_label(LONG)
    lines = label.split("\n")
    assert len(lines) == 2 and all(len(line) <= 34 for line in lines)
    words = set(LONG.split()) | {"…"}
    assert all(w in words for line in lines for w in line.split()), label
    assert wrap_label("no causal mask") == "no causal mask"


def test_every_rate_has_a_legend_colour():
    assert [rate_colour(v) for v in (0, 49.9, 50, 79, 80, 100)] == [
        RATE_COLOURS[2][1],
        RATE_COLOURS[2][1],
        RATE_COLOURS[1][1],
        RATE_COLOURS[1][1],
        RATE_COLOURS[0][1],
        RATE_COLOURS[0][1],
    ]


def test_png_is_written(tmp_path):
    klass = [make_result("a", hidden_ok=True), make_result("b", shapes=False), make_result("c")]
    klass[0].checks[0].title = LONG
    path = write_charts(class_stats(klass), tmp_path / "summary.png", title="bert_pretrain")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1300, 450)
    print(f"chart: {path}")
