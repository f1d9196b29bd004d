"""The Jinja2 environments of the exporters: Markdown pages and the HTML report.

Templates live in ``grader/exporters/templates/``. The HTML environment autoescapes everything
(student names, messages and file names are student-controlled); the Markdown one does not, so
its templates pass student text through the ``cell``, ``quote`` and ``fence`` filters, which make
it inert in a table cell, a block quote or a code block.
"""

from __future__ import annotations

from functools import cache

import jinja2

from grader.exporters.common import STATUS_WORDS, fence, fmt_points

TEMPLATES = "grader.exporters"


def md_cell(text: object) -> str:
    """Text safe inside a Markdown table cell (pipes escaped, one line)."""
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ").strip()


def md_quote(text: object) -> str:
    """A Markdown block quote of plain text (HTML made inert)."""
    safe = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join("> " + line for line in safe.splitlines())


def _common(env: jinja2.Environment) -> jinja2.Environment:
    env.filters.update(points=fmt_points, fence=fence, cell=md_cell, quote=md_quote)
    env.globals["status_words"] = {s.value: w for s, w in STATUS_WORDS.items()}
    return env


@cache
def markdown_env() -> jinja2.Environment:
    """Templates for Markdown output (no HTML escaping: the filters above do Markdown's)."""
    return _common(
        jinja2.Environment(
            loader=jinja2.PackageLoader(TEMPLATES, "templates"),
            autoescape=False,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
    )


@cache
def html_env() -> jinja2.Environment:
    """Templates for HTML output, every ``{{ value }}`` escaped."""
    return _common(
        jinja2.Environment(
            loader=jinja2.PackageLoader(TEMPLATES, "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )
