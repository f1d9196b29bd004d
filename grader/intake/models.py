"""The intake's data: the layouts it knows, its caps, and one staged submission (a row)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

Layout = Literal["folder", "zip", "canvas", "gradescope", "single"]


class IntakeLimits(BaseModel):
    """Caps on what one submission may contain; over any of them the submission is ``invalid``."""

    max_total_mb: int = 2500
    max_file_mb: int = 2100
    max_files: int = 200
    max_folder_files: int = 64  # files taken from one wanted folder (a save_pretrained dir)
    max_zip_ratio: float = 200.0
    # Tighter caps by suffix, on the apparent size (a sparse 2 GB file is 2 GB here): a graded file
    # over its cap is left out with a note (the rest is still graded), never copied.
    max_file_mb_by_suffix: dict[str, int] = Field(
        default_factory=lambda: {".py": 1, ".txt": 64, ".pt": 1024}
    )

    def file_cap_mb(self, name: str) -> int:
        """The size cap of a graded file called ``name``, in MB."""
        suffix = name[name.rfind(".") :].lower() if "." in name else ""
        return min(self.max_file_mb, self.max_file_mb_by_suffix.get(suffix, self.max_file_mb))


class SubmissionInput(BaseModel):
    """One student's submission as found and staged by the intake."""

    student: str  # filesystem-safe unique id (lowercase ASCII slug)
    source: str  # where it came from (folder, zip, LMS file names), printable
    layout: Layout
    staged_dir: Path | None  # private copy of the usable files, or None when nothing was staged
    files: dict[str, str] = Field(default_factory=dict)  # staged file name -> sha256
    submission_hash: str = ""  # sha256 over sorted (name, sha256); "" when nothing staged
    problems: list[str] = Field(default_factory=list)  # student-readable notes
    status: Literal["ok", "empty", "invalid"]
    message: str  # one line for the gradebook
    identity: dict[str, str] = Field(default_factory=dict)  # LMS facts: name, email, sid, canvas_id
