"""Gradescope mode: `nlpgrade-gradescope` grades /autograder/submission and writes a valid
results.json; the autograder zip carries setup.sh, run_autograder (executable) and the grader's
source, refuses to be built without the reference, and works end to end: unpacked into a fresh
container-like root, its setup.sh installs from an offline wheelhouse, run_autograder grades."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.exporters import validate_gradescope
from grader.gradescope_autograder import build_autograder_zip, build_zip_main
from grader.versions import grading_pins
from tests.grading.wheelhouse import build_wheelhouse, find_torch_wheel

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "grader" / "exporters" / "gradescope_results.schema.json"


@pytest.mark.slow
def test_run_autograder_writes_results_json(tmp_path: Path) -> None:
    root = tmp_path / "autograder"
    shutil.copytree(ROOT / "examples" / "bert_pretrain" / "dave_no_tying", root / "submission")
    env = {**os.environ, "NLPGRADE_GRADESCOPE_ROOT": str(root)}
    proc = subprocess.run([sys.executable, "-c", "from grader.gradescope_autograder import "
                           "run_autograder; raise SystemExit(run_autograder())",
                           "--profile", "small"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((root / "results" / "results.json").read_text())
    assert validate_gradescope(doc) == []
    assert doc["score"] == 46
    tying = [t for t in doc["tests"] if "tied" in t["name"]]
    assert tying and tying[0]["score"] == 0 and "not a copy" in tying[0]["output"]


def test_autograder_zip_layout(tmp_path: Path) -> None:
    dest = build_autograder_zip(tmp_path / "autograder.zip", profile="official")
    with zipfile.ZipFile(dest) as zf:
        names = set(zf.namelist())
        run = zf.read("run_autograder").decode()
        setup = zf.read("setup.sh").decode()
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    # Gradescope unpacks the zip into /autograder/source: everything sits at the top level
    assert {"setup.sh", "run_autograder", "pyproject.toml", "rubrics/bert_pretrain.toml",
            "reference/bert_pretrain/model.py", "grader/cli.py", "constraints/grading.txt",
            "grader/rubrics/bert_pretrain.toml"} <= names
    assert "--profile official" in run and "nlpgrade-gradescope" in run
    assert "constraints/grading.txt" in setup and "python3.11" in setup
    assert modes["setup.sh"] == modes["run_autograder"] == 0o100755
    assert modes["grader/cli.py"] == 0o100644
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_setup_installs_the_extras_the_assignment_declares(tmp_path: Path) -> None:
    """bert_finetune needs transformers and the offline checkpoint on the grading image."""
    setups = {}
    for name in ("bert_finetune", "bert_pretrain"):
        dest = build_autograder_zip(tmp_path / f"{name}.zip", assignment=name)
        with zipfile.ZipFile(dest) as zf:
            setups[name] = zf.read("setup.sh").decode()
    assert '"$SRC[bert-finetune]"' in setups["bert_finetune"]
    assert '"$SRC"' in setups["bert_pretrain"] and "[bert-finetune]" not in setups["bert_pretrain"]
    script = tmp_path / "setup.sh"
    script.write_text(setups["bert_finetune"])
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0  # still valid bash


def test_the_docker_images_hold_what_every_assignment_imports() -> None:
    """The worker image has every module a plug-in preloads in its sandbox; the full image
    installs every assignment's extra (pyproject's ``assignments`` extra lists them all)."""
    import tomllib

    from grader.assignments import all_assignments

    dockerfile = (ROOT / "Dockerfile").read_text()
    worker = dockerfile.split("FROM worker AS grade")[0]
    installed = next(line for line in worker.splitlines() if "-c /tmp/grading.txt" in line)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for name, a in all_assignments().items():
        for module in ("torch", *a.preload_modules):
            assert module in installed.split(), (name, module, installed)
        for extra in a.package_extras:
            assert f"nlpgrade[{extra}]" in extras["assignments"], (name, extra)
    assert '"nlpgrade[assignments]"' in dockerfile


def test_zip_refuses_without_the_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    installed = tmp_path / "site-packages"  # what an installed wheel looks like: no reference
    shutil.copytree(ROOT / "grader", installed / "grader", symlinks=True)
    dest = tmp_path / "autograder.zip"
    rc = build_zip_main([str(dest), "--root", str(installed)])
    err = capsys.readouterr()
    assert rc == 2 and not dest.exists()
    assert "No zip written" in err.err and "reference/bert_pretrain" in err.err
    assert "wrote" not in err.out


def _unzip(zip_path: Path, dest: Path) -> None:
    """Unpack as Gradescope does (unzip keeps the modes stored in the zip)."""
    subprocess.run(["unzip", "-q", str(zip_path), "-d", str(dest)], check=True, timeout=120)


@pytest.mark.slow
def test_zip_end_to_end_in_a_fresh_root(tmp_path: Path) -> None:
    """setup.sh from an offline wheelhouse, then run_autograder; results.json is schema-valid."""
    torch_version = grading_pins()["torch"]
    if find_torch_wheel(torch_version) is None:
        pytest.skip(f"no CPU torch {torch_version} wheel on this machine for the wheelhouse")
    wheels = build_wheelhouse(tmp_path / "wheelhouse", torch_version)
    root = tmp_path / "autograder"
    for part in ("source", "submission", "results"):
        (root / part).mkdir(parents=True)
    zip_path = tmp_path / "autograder.zip"
    assert build_zip_main([str(zip_path), "--root", str(ROOT), "--profile", "small"]) == 0
    _unzip(zip_path, root / "source")
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")  # as Gradescope does
    for script in (root / "source" / "setup.sh", root / "run_autograder"):
        assert os.access(script, os.X_OK), script
    shutil.copytree(ROOT / "examples" / "bert_pretrain" / "dave_no_tying", root / "submission",
                    dirs_exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "NLPGRADE_"))},
        "NLPGRADE_GRADESCOPE_ROOT": str(root),
        "NLPGRADE_VENV": str(tmp_path / "venv"),
        "NLPGRADE_WHEELHOUSE": str(wheels),
        "NLPGRADE_PYTHON": getattr(sys, "_base_executable", sys.executable),
        "PIP_CONFIG_FILE": os.devnull,  # only the wheelhouse: no index, no local find-links
        "PIP_NO_CACHE_DIR": "1",
    }
    if "NLPGRADE_CACHE" in os.environ:  # the kit and calibration this session already built
        env["NLPGRADE_CACHE"] = os.environ["NLPGRADE_CACHE"]
    setup = subprocess.run([str(root / "source" / "setup.sh")], cwd=root / "source", env=env,
                           capture_output=True, text=True, timeout=1500)
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-4000:]
    assert "kit ready" in setup.stderr
    run = subprocess.run([str(root / "run_autograder")], cwd=root, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    doc = json.loads((root / "results" / "results.json").read_text())
    import jsonschema

    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))
    assert validate_gradescope(doc) == []
    assert doc["score"] == 46  # dave: no weight tying, as in the direct test above
    tying = [t for t in doc["tests"] if "tied" in t["name"]]
    assert tying and tying[0]["score"] == 0


@pytest.mark.slow
def test_self_test_cli_passes_and_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader import selftest
    from grader.cli import grade_main

    args = ["--self-test", "--assignment", "bert_pretrain", "--out", str(tmp_path), "--only",
            "reference", "no_tying", "template"]
    assert grade_main(args) == 0
    real = selftest.load_zoo

    def wrong(name: str, root: Path = ROOT) -> selftest.Zoo:
        zoo = real(name, root)
        zoo.cases["no_tying"].score = 50.0  # a wrong expectation must fail the self-test
        return zoo

    monkeypatch.setattr(selftest, "load_zoo", wrong)
    assert grade_main(args) == 1
