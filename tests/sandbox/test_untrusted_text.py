"""Sandbox-controlled strings and files as the parent reads them: bounded, inert, never a leak."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest

from grader.assignments import get_assignment
from grader.checks import CheckStopped
from grader.context import GradingContext, probe_failure_verdict
from grader.safejson import JSONRejected, json_depth, loads_capped
from grader.sandbox import Limits, ProbeError, ProbeOutcome, ProbeStatus, Session, get_sandbox
from grader.sandboxtext import sandbox_name, sandbox_text
from grader.sourcefile import SOURCE_MAX, SourceRejected, parse_file, parse_source, read_source

from .conftest import World, _chmod_tree

QUICK = Limits(wall_s=8, cpu_s=8, memory_mb=512, pids=32, fsize_mb=8)


# -- the helpers --------------------------------------------------------------------------------


def test_sandbox_text_is_one_inert_capped_line() -> None:
    raw = "line1\nline2\r\x1b[31m`code` <img src=x> [a](http://evil) |cell| \u202edir " + "x" * 999
    out = sandbox_text(raw, cap=120)
    assert len(out) == 120 and out.endswith("…")
    assert not any(c in out for c in "\n\r\x1b`<>|\u202e") and "](" not in out
    assert "\\x1b" in out and "\\u202e" in out and out.startswith("line1 line2")


def test_sandbox_name_takes_identifiers_only() -> None:
    assert sandbox_name("torch.OutOfMemoryError") == "torch.OutOfMemoryError"
    assert sandbox_name("A" * 61) == sandbox_name("a b") == sandbox_name("x\n") == "an exception"


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"a": "[[[{{\\"[", "b": [[1], {"c": []}]}') == 4
    assert loads_capped(b'{"a": [1, 2]}') == {"a": [1, 2]}


@pytest.mark.parametrize("raw", [b"[" * 200_000 + b"]" * 200_000, b"[" * 65 + b"]" * 65])
def test_deep_json_is_refused_not_a_recursion_error(raw: bytes) -> None:
    with pytest.raises(JSONRejected, match="levels deep"):
        loads_capped(raw, what="result.json")


def test_bad_json_is_refused() -> None:
    with pytest.raises(JSONRejected, match="not valid JSON"):
        loads_capped(b'{"a": ', what="result.json")


@pytest.mark.parametrize(
    "source",
    ["x = " + "-" * 200_000 + "1", "y = a" + ".b" * 20_000, "z = 1" + " + 1" * 20_000],
)
def test_hostile_source_is_refused_not_a_crash(source: str) -> None:
    """Small files that make ast.parse raise MemoryError or RecursionError in the parent."""
    with pytest.raises(SourceRejected, match="too deeply"):
        parse_source(source, "model.py")


def test_oversized_source_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    with open(path, "wb") as fh:  # sparse: the cap must stop the read, not the disk
        fh.truncate(2 * 2**30)
    with pytest.raises(SourceRejected, match="larger than"):
        read_source(path)
    with pytest.raises(SourceRejected, match="larger than"):
        parse_file(path, "model.py")
    path.write_text("x = '" + "a" * (SOURCE_MAX - 8) + "'\n")
    assert parse_file(path, "model.py").body


def test_null_bytes_and_links_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "model.py"
    bad.write_bytes(b"x = 1\0\n")
    with pytest.raises((SyntaxError, SourceRejected), match="null bytes"):  # 3.12+: SyntaxError
        parse_file(bad, "model.py")
    link = tmp_path / "link.py"
    link.symlink_to("/etc/hostname")
    with pytest.raises(SourceRejected, match="cannot be read"):
        read_source(link)


# -- through a real sandbox -----------------------------------------------------------------------


def test_deep_result_json_is_a_probe_error(sess: Session) -> None:
    out = sess.run("call", {"func": "deep_result", "kwargs": {"depth": 200_000}}, limits=QUICK)
    assert out.status is ProbeStatus.CRASH and out.data == {}
    assert "result.json is nested 200000 levels deep" in out.message
    assert sess.run("echo").status is ProbeStatus.OK


def test_exported_file_name_reaches_the_message_inert(sess: Session, world: World) -> None:
    name = "x\u202e`<script>alert(1)<script>` [y](http:evil)" + "n" * 150
    out = sess.run("export_named_link", {"name": name, "target": str(world.bob_secret)})
    assert out.status is ProbeStatus.CRASH and out.files == {}
    assert "refused" in out.message and "n" * 61 not in out.message
    assert not any(c in out.message for c in "`<>\u202e\n") and "](" not in out.message
    verdict = probe_failure_verdict(out, "saving the checkpoint")
    assert "<script>" not in verdict.message and "\n" not in verdict.message


@pytest.fixture
def hidden(world: World, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A hidden folder mounted next to student code, holding a fresh secret."""
    secret = "REFSECRET_" + secrets.token_hex(20)  # an identifier of 50 chars
    root = tmp_path_factory.mktemp("hidden")
    shutil.copytree(world.root / "refmod", root / "refmod")
    (root / "refmod" / "refmod.py").write_text(f'VALUE = "{secret}"\n')
    _chmod_tree(root)
    return root / "refmod", secret


def _context(world: World) -> GradingContext:
    assignment = get_assignment("bert_pretrain")
    return GradingContext(
        assignment=assignment,
        rubric=assignment.default_rubric(),
        prepared=None,
        sandbox=get_sandbox("process"),
        student="alice",
        submission_dir=world.alice,
        files={"model.py": "", "hostile.py": ""},
        with_reference=False,
    )


@pytest.mark.parametrize("how", ["exception_name", "link_name", "message"])
def test_hidden_material_never_reaches_a_scrubbed_message(
    world: World, backend: str, hidden: tuple[Path, str], how: str
) -> None:
    """The hostile code reads the mounted secret and tries each channel; the message has none."""
    folder, secret = hidden
    spec = world.spec(extra_ro={"/reference_model": folder}, preload_torch=False)
    with get_sandbox(backend).open(spec) as s:
        out = s.run("leak", {"how": how}, limits=QUICK)
    assert out.status is ProbeStatus.CRASH
    seen = (out.error.type if out.error else "") + out.message
    assert secret[:20] in seen, "the attack did not work: the test would prove nothing"
    with pytest.raises(CheckStopped) as stop:
        _context(world).require(out, "training", near_secrets=True)
    text = stop.value.verdict.message + str(stop.value.verdict.details)
    assert secret[:12] not in text and "hidden material" in text


def test_scrubbed_frames_show_only_lines_that_exist(world: World) -> None:
    """Line numbers are sandbox-chosen: only real lines of the staged file are shown."""
    err = ProbeError(
        type="ValueError",
        message="x",
        student_frames=["model.py:1 in f: a", "model.py:123456789012 in f: b", "nope.py:1 in g"],
    )
    out = ProbeOutcome(probe="p", status=ProbeStatus.CRASH, error=err)
    with pytest.raises(CheckStopped) as stop:
        _context(world).require(out, "training", near_secrets=True)
    msg = stop.value.verdict.message
    assert "raised ValueError" in msg and "model.py:1:" in msg
    assert "123456789012" not in msg and "nope.py" not in msg
