"""The generated student template: in sync with the reference, importable, and stopping at the
first hole with a TODO message; plus unit tests of the generator."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from grader.assignments.bert_pretrain.kit import Kit, build_kit
from grader.templating import TemplateError, render_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "student_template" / "bert_pretrain"
REFERENCE = REPO / "reference" / "bert_pretrain"


def run_templating(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader.templating", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def copy_generated_tree(dest: Path) -> Path:
    """A minimal repository copy (reference, template, framework copies) for --check --root."""
    for top in ("reference", "student_template"):
        shutil.copytree(REPO / top / "bert_pretrain", dest / top / "bert_pretrain",
                        ignore=shutil.ignore_patterns("__pycache__"))
    framework = Path("grader/assignments/bert_pretrain/framework")
    shutil.copytree(REPO / framework, dest / framework,
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture(scope="module")
def small_kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return build_kit("small", cache_dir=tmp_path_factory.mktemp("kits"))


def template_workdir(kit: Kit, dest: Path) -> Path:
    """The student template set up as a student would run it, with the kit's data."""
    shutil.copytree(TEMPLATE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    for name in (*kit.framework_files, kit.vocab_file):
        shutil.copy(kit.path(name), dest / name)
    shutil.copy(kit.path(kit.train_batches_file), dest / "batches.pkl")
    return dest


def test_committed_template_is_in_sync() -> None:
    run = run_templating("--check", "--only", "bert_pretrain")
    assert run.returncode == 0, run.stdout + run.stderr


def test_all_generated_files_are_in_sync() -> None:
    """CI's check: every assignment's template and framework copies are up to date."""
    run = run_templating("--check")
    assert run.returncode == 0, run.stdout + run.stderr


def test_only_rejects_unknown_assignment() -> None:
    run = run_templating("--check", "--only", "no_such_assignment")
    assert run.returncode == 2
    assert "no_such_assignment" in run.stderr


def test_check_fails_when_reference_changes(tmp_path: Path) -> None:
    root = copy_generated_tree(tmp_path)
    assert run_templating("--check", "--root", str(root)).returncode == 0
    model = root / "reference" / "bert_pretrain" / "model.py"
    text = model.read_text()
    assert "#| 2. Feed the attention" in text
    model.write_text(text.replace("#| 2. Feed the attention", "#| 2. Pass the attention"))
    run = run_templating("--check", "--root", str(root))
    assert run.returncode == 1
    assert "differs: student_template/bert_pretrain/model.py" in run.stdout
    # regenerating fixes it
    assert run_templating("--root", str(root)).returncode == 0
    assert run_templating("--check", "--root", str(root)).returncode == 0


def test_check_fails_on_stale_framework_copy_and_extra_file(tmp_path: Path) -> None:
    root = copy_generated_tree(tmp_path)
    vocab = root / "reference" / "bert_pretrain" / "vocab.py"
    vocab.write_text(vocab.read_text() + "\n# changed\n")
    (root / "student_template" / "bert_pretrain" / "notes.txt").write_text("hand-made\n")
    run = run_templating("--check", "--root", str(root))
    assert run.returncode == 1
    assert "differs: grader/assignments/bert_pretrain/framework/vocab.py" in run.stdout
    assert "differs: student_template/bert_pretrain/vocab.py" in run.stdout
    assert "extra (not generated): student_template/bert_pretrain/notes.txt" in run.stdout


def test_template_has_no_solution_code() -> None:
    for path in TEMPLATE.glob("*.py"):
        text = path.read_text()
        assert "SOLUTION" not in text, path
    model = (TEMPLATE / "model.py").read_text()
    assert "h_masked = torch.gather(output, 1, masked_pos)" not in model
    assert "self.pos_ffn(enc_outputs)" not in model
    assert model.count("### START YOUR CODE ###") == 3
    train = (TEMPLATE / "train.py").read_text()
    assert "\n            loss = loss_lm + loss_clsf\n" not in train
    assert train.count("### START YOUR CODE ###") == 2
    assert (TEMPLATE / "README.md").read_text().count("precheck") >= 1


def test_render_template_hints_body_and_indentation() -> None:
    source = (
        "def f(x):\n"
        "    y = 1\n"
        "    ### BEGIN SOLUTION f.body\n"
        "    #| add one\n"
        "    #|   (indented hint)\n"
        "    return x + y\n"
        "    ### END SOLUTION\n"
        "\n"
        "def g():\n"
        "        ### BEGIN SOLUTION g\n"
        "        #= return None\n"
        "        return 42\n"
        "        ### END SOLUTION\n"
    )
    out = render_template(source, "demo.py")
    assert out.splitlines() == [
        "def f(x):",
        "    y = 1",
        "    ### START YOUR CODE ###",
        "    # add one",
        "    #   (indented hint)",
        "    raise NotImplementedError('TODO f.body: this part is not written yet. Replace this "
        "raise with your code between START YOUR CODE and END YOUR CODE (see the hints above "
        "in demo.py)')",
        "    ### END YOUR CODE ###",
        "",
        "def g():",
        "        ### START YOUR CODE ###",
        "        return None",
        "        ### END YOUR CODE ###",
    ]


@pytest.mark.parametrize(
    "source",
    [
        "### BEGIN SOLUTION a\nx = 1\n",
        "x = 1\n### END SOLUTION\n",
        "### BEGIN SOLUTION a\n### BEGIN SOLUTION b\n### END SOLUTION\n",
    ],
)
def test_render_template_rejects_bad_markers(source: str) -> None:
    with pytest.raises(TemplateError):
        render_template(source, "bad.py")


@pytest.mark.slow
def test_template_model_imports_and_stops_at_first_hole(small_kit: Kit, tmp_path: Path) -> None:
    work = template_workdir(small_kit, tmp_path / "student")
    code = (
        "import torch, model\n"
        "m = model.BERT()\n"
        "ids = torch.tensor([[2, 7, 3, 8, 3, 0]]); seg = torch.tensor([[1, 1, 1, 2, 2, 0]])\n"
        "m(ids, seg, torch.tensor([[1, 3, 0, 0, 0]]))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0
    assert "NotImplementedError: TODO EncoderLayer.forward" in run.stderr
    assert "TypeError" not in run.stderr


@pytest.mark.slow
def test_template_train_stops_at_first_hole(small_kit: Kit, tmp_path: Path) -> None:
    work = template_workdir(small_kit, tmp_path / "student")
    run = subprocess.run([sys.executable, "train.py"], cwd=work, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0
    assert "NotImplementedError: TODO train.tensors" in run.stderr
    assert "see the hints above in train.py" in run.stderr
    assert "TypeError" not in run.stderr


EXAMPLES = REPO / "examples" / "bert_pretrain"


def test_examples_follow_reference_and_template(small_kit: Kit) -> None:
    """alice is the reference, bob the template; checkpoints fit the default small kit."""
    for name in ("model.py", "train.py"):
        assert (EXAMPLES / "alice_correct" / name).read_text() == (REFERENCE / name).read_text()
        assert (EXAMPLES / "bob_template" / name).read_text() == (TEMPLATE / name).read_text()
    for checkpoint in sorted(EXAMPLES.glob("*/bert_model.pt")):
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        assert state["embedding.tok_embed.weight"].shape == (small_kit.vocab_size, 64), checkpoint
        assert checkpoint.stat().st_size < 5_000_000
