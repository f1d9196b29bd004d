"""Moved to :mod:`grader.intake.zipread`; this name stays importable for older callers."""

from grader.intake.zipread import (  # noqa: F401
    MB,
    IntakeRejected,
    ZipListing,
    ZipMember,
    is_junk,
    iter_member_chunks,
    list_zip,
    open_zip,
)
