"""report.html: one static page, escaped, checked in a real headless browser (Debian chromium).

Setup for the browser test: ``apt-get update && apt-get install -y chromium`` (or
``bash scripts/install_chromium.sh``, which ``.ci/run`` calls). Without chromium it skips and
says so.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from grader.exporters import export_all, render_report

from .conftest import make_result

HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"


class Dom(HTMLParser):
    """Tags with their attributes and the page's text, from the DOM chromium dumped."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_title = tag == "title" and not self.title  # the page's, not an SVG <title>

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_title:
            self.title += data

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        """Tags named ``tag`` whose attributes contain ``attrs`` (``cls`` matches a class)."""
        want_cls = attrs.pop("cls", None)
        return [
            a
            for t, a in self.tags
            if t == tag
            and all(a.get(k) == v for k, v in attrs.items())
            and (want_cls is None or want_cls in a.get("class", "").split())
        ]


def _class_with_hostile_student() -> list:
    klass = [make_result("alice", hidden_ok=True), make_result("bob", shapes=False)]
    evil = make_result(HOSTILE, tied=False)
    evil.checks[0].message = "</pre><script>document.title='pwned2'</script>"
    evil.integrity_flags = ["printed loss 0.01 but the checkpoint's loss is 7.9 " + HOSTILE]
    return [*klass, evil]


def test_student_strings_are_escaped():
    page = render_report(_class_with_hostile_student())
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in page
    assert page.count('class="student-row"') == 3


@pytest.fixture(scope="module")
def chromium() -> str:
    """The chromium binary, or a skip that says how to install it."""
    path = shutil.which("chromium")
    if path is None:
        pytest.skip(
            "chromium is not installed: `apt-get update && apt-get install -y chromium` "
            "(or bash scripts/install_chromium.sh)"
        )
    return path


@pytest.mark.slow
def test_report_in_headless_chromium(chromium, tmp_path):
    out = tmp_path / "out"
    paths = export_all(_class_with_hostile_student(), out)
    report = paths["report.html"]
    assert report == out / "report.html"
    shot = tmp_path / "report.png"
    run = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,1800",
            f"--screenshot={shot}",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    dom = Dom()
    dom.feed(run.stdout)
    text = " ".join(dom.text)
    # no script ran: the hostile name would have renamed the page
    assert dom.title == "bert_pretrain: class report", dom.title
    assert dom.find("script") == [] and dom.find("img") == []
    assert HOSTILE in text  # shown as text, literally
    assert len(dom.find("tr", cls="student-row")) == 3
    assert len(dom.find("section", cls="student")) == 3
    assert dom.find("svg", id="histogram") and len(dom.find("rect", cls="hist-bar")) == 10
    flags = dom.find("li", cls="flag")
    assert len(flags) == 3 and "printed loss 0.01" in text
    assert dom.find("table", id="items") and dom.find("table", id="checks")
    # every in-page link resolves to a section
    ids = {a["id"] for _, a in dom.tags if "id" in a}
    links = [a["href"][1:] for a in dom.find("a") if a.get("href", "").startswith("#")]
    assert links and all(link in ids for link in links)
    # the per-student links to feedback.md point at files that exist
    files = [a["href"] for a in dom.find("a") if a.get("href", "").endswith("feedback.md")]
    assert len(files) == 3 and all((out / f).is_file() for f in files)
    assert shot.is_file() and shot.read_bytes().startswith(b"\x89PNG")
    print(f"screenshot: {shot}")
