"""File checks: the required files are there, model.py imports, train.py parses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.assignments.bert_pretrain.checks.common import check
from grader.assignments.bert_pretrain.kit import framework_text
from grader.checks import Verdict
from grader.results import CheckStatus
from grader.sourcefile import SourceRejected, parse_file

if TYPE_CHECKING:
    from grader.context import GradingContext

def _course_copy(ctx: GradingContext, name: str) -> bool:
    """Whether the submitted ``name`` is the course's framework file unchanged (line ends aside)."""
    try:
        text = (ctx.submission_dir / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    body = text.replace("\r\n", "\n").splitlines(keepends=True)
    while body and body[0].startswith(("# GENERATED", "# Do not edit")):
        body.pop(0)
    return "".join(body) == framework_text(name)


@check("files.present", "model.py, train.py and bert_model.pt are submitted", tier="file")
def files_present(ctx: GradingContext) -> Verdict:
    """Every required file is in the submission."""
    required = ctx.assignment.required_files
    missing = [f for f in required if not ctx.has_file(f)]
    # An unmodified copy of a handed-out file (the template's own) is no news to the student.
    ignored = [
        f for f in ctx.assignment.framework_files if f in ctx.files and not _course_copy(ctx, f)
    ]
    if ignored:
        ctx.warn(
            f"Your own copies of {', '.join(ignored)} were ignored: grading always uses the "
            "course's framework files."
        )
    if missing:
        return Verdict.failed(
            f"Missing: {', '.join(missing)}. Submit exactly these file names at the top level "
            f"({', '.join(required)}).",
            score=(len(required) - len(missing)) / len(required),
            missing=missing,
        )
    return Verdict.passed()


def _syntax_problem(ctx: GradingContext, name: str) -> Verdict | None:
    if not ctx.has_file(name):
        return Verdict.failed(f"{name} was not submitted.")
    try:
        parse_file(ctx.submission_dir / name, name)
    except SyntaxError as exc:
        line = (exc.text or "").rstrip()
        return Verdict(
            CheckStatus.ERROR,
            f"{name} does not parse: {exc.msg} at line {exc.lineno}:\n    {line}\n"
            "Fix the syntax error first; nothing else can be checked until then.",
            details={"line": exc.lineno},
        )
    except SourceRejected as exc:  # too large, too deep, null bytes
        return Verdict(CheckStatus.ERROR, str(exc))
    return None


@check("model.imports", "model.py imports with the course's config.py", tier="file")
def model_imports(ctx: GradingContext) -> Verdict:
    """model.py parses and imports inside the sandbox, next to the kit's framework files."""
    problem = _syntax_problem(ctx, "model.py")
    if problem:
        return problem
    outcome = ctx.require(ctx.probe("import", {"modules": ["model"]}), "importing model.py")
    missing = [n for n in ("BERT", "EncoderLayer") if n not in outcome.data.get("names", [])]
    if missing:
        return Verdict.failed(
            f"model.py imports, but does not define {', '.join(missing)}: keep "
            "the class names of the handed-out framework."
        )
    return Verdict.passed()


@check("train.parses", "train.py is valid Python", tier="file")
def train_parses(ctx: GradingContext) -> Verdict:
    """train.py parses (it is a script: it is run, not imported, by the training checks)."""
    return _syntax_problem(ctx, "train.py") or Verdict.passed()
