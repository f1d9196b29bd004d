"""Regenerate the default ``bert_pretrain`` corpus from Debian's ``fortunes-zh`` package.

The corpus is classical Chinese verse (Tang and Song dynasties, public domain) taken from the
``tang300`` and ``song100`` fortune files of the Debian package ``fortunes-zh`` (packaging:
GPL-3.0+).
Each poem entry looks like::

    <ESC>[32m《title》<ESC>[m
    <ESC>[33m作者：author<ESC>[m
    line one，line two。
    ...
    %

We strip the terminal colour escapes, split entries on ``%`` lines, drop the title and author
lines, and keep every body line (one couplet per line) as one sentence of the corpus.

Usage (needs ``apt-get`` and ``dpkg``; no root needed for ``apt-get download``)::

    python scripts/make_default_corpus.py            # download the .deb, write the corpus
    python scripts/make_default_corpus.py --deb PATH # use an already downloaded .deb
    python scripts/make_default_corpus.py --check    # exit 1 if the committed corpus differs
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "grader" / "assignments" / "bert_pretrain" / "data" / "tang_song_verse.txt"
SOURCES = ("tang300", "song100")
FORTUNE_DIR = Path("usr/share/games/fortunes")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def poem_lines(text: str) -> list[str]:
    """Body lines of every entry of one fortune file, colour escapes removed."""
    text = _ANSI.sub("", text)
    lines: list[str] = []
    entry: list[str] = []
    for raw in [*text.splitlines(), "%"]:
        if raw.strip() == "%":
            # An entry is: title line, author line, then the poem body.
            lines.extend(line.strip() for line in entry[2:] if line.strip())
            entry = []
        else:
            entry.append(raw)
    return lines


def extract(deb: Path, workdir: Path) -> list[str]:
    """Unpack ``deb`` into ``workdir`` and return the corpus lines of all sources."""
    subprocess.run(["dpkg", "-x", str(deb), str(workdir)], check=True)
    lines: list[str] = []
    for name in SOURCES:
        lines.extend(poem_lines((workdir / FORTUNE_DIR / name).read_text(encoding="utf-8")))
    return lines


def download(workdir: Path) -> Path:
    """``apt-get download fortunes-zh`` into ``workdir``; return the .deb path."""
    subprocess.run(["apt-get", "download", "fortunes-zh"], cwd=workdir, check=True)
    debs = sorted(workdir.glob("fortunes-zh_*.deb"))
    if not debs:
        raise SystemExit("apt-get download did not produce fortunes-zh_*.deb")
    return debs[-1]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", type=Path, help="an already downloaded fortunes-zh .deb")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        deb = args.deb.resolve() if args.deb else download(work)
        text = "\n".join(extract(deb, work / "x")) + "\n"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'STALE'} (sha256 {digest})")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {text.count(chr(10))} lines, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
