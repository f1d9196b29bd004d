"""One slug function for every name the grader derives from a student's: ids and file names."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def slugify(raw: str) -> str:
    """A lowercase ASCII id safe as a file name, from any name (non-UTF-8 bytes read as Latin-1).

    Accents are dropped (``Núñez`` -> ``nunez``), every other run of unsafe characters becomes
    ``-``; a name with nothing left becomes ``student-<hash>``.
    """
    data = os.fsencode(raw)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._").lower()[:64].rstrip("-._")
    return slug or "student-" + hashlib.sha256(data).hexdigest()[:8]


def safe_filename(student: str) -> str:
    """``student`` if it is already a safe file name, else its slug plus a short hash (stable,
    so two ids with the same slug still get different files)."""
    if SAFE_NAME.fullmatch(student) and student not in (".", ".."):
        return student
    digest = hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{slugify(student)}-{digest}"
