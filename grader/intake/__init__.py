"""Intake: turn a SUBMISSIONS_DIR (or one folder or zip) into staged, hashed submissions.

Layouts are auto-detected and may be mixed in one directory:

* ``folder``: one folder per student (``alice/model.py``), possibly nested (``alice/A6/model.py``);
* ``zip``: one zip per student (``alice.zip``), read member by member under size/count/ratio caps;
* ``canvas``: Canvas bulk-download files ``name[_LATE]_userid_submissionid_file``, per student;
* ``gradescope``: Gradescope export ``submission_<id>/`` folders, named from
  ``submission_metadata.yml``;
* ``single``: the directory itself is one submission (it directly holds an expected file), or
  :func:`stage_one` was given a single file.

Each submission's usable files (the expected and optional names only) are copied as plain files into
``staging_dir/<student>/``; links are never followed, special files never opened. Anything odd
becomes a row with status ``empty`` or ``invalid`` and a message a student can act on: intake never
raises for a bad submission.

Modules, one job each: ``models`` (limits, the row), ``names`` (printable names, slugs),
``zipread`` (hostile-zip-safe listing and reading), ``entries`` (the files of a submission),
``choose`` (which file is graded as which name), ``staging`` (copy one submission, build its row),
``layouts`` (a plan per upload, the top-level scan), ``gradescope_meta`` (the export's YAML),
``ids`` (unique, stable student ids), ``discover`` (the entry points).
"""

from grader.slug import slugify

from .discover import discover, stage_one
from .gradescope_meta import parse_gradescope_metadata
from .models import IntakeLimits, Layout, SubmissionInput
from .names import display
from .zipread import IntakeRejected

__all__ = [
    "IntakeLimits",
    "IntakeRejected",
    "Layout",
    "SubmissionInput",
    "discover",
    "display",
    "parse_gradescope_metadata",
    "slugify",
    "stage_one",
]
