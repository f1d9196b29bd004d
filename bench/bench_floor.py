"""The bare floor of grading a submission: exactly its probes, in one plain process.

``record(plan)`` wraps the sandbox session of a grading run so that every probe a submission
asks for (name, params, inputs, seed, and the kit/submission/extra folders it sees) is written
down while ``grade`` runs as usual. ``floor(records)`` then replays those probes in ONE fresh
``python`` process — ``import torch`` once, each probe function called directly on a context
built from the same folders, student modules dropped between probes — with no sandbox, no fork,
no cgroup, no request/response files. Its time plus the parent's own trusted computations
(``Timings.reference_s``, which are bare already) is what a submission costs at the least;
``bench_grade.py`` divides the grader's time per submission by it.

Usage (alone): .venv/bin/python bench/bench_floor.py [SUBMISSION_DIR ...]
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Only the standard library at the top: the replay process times its own `import torch`.
ROOT = Path(__file__).resolve().parents[1]
Records = dict[str, list[dict[str, Any]]]  # submission folder -> its probe requests, in order


@contextmanager
def record(store: Path) -> Iterator[Records]:
    """Write down every probe request of the grading done inside the block, per submission.

    The folders a probe sees are copied under ``store`` when first seen (staging and the loop's
    folder are removed after each submission), and the records point at the copies.
    """
    from grader.sandbox.session import Session

    found: Records = {}
    copies: dict[str, str] = {}
    lock = threading.Lock()
    real_run = Session.run

    def kept(path: Path) -> str:
        if str(path) not in copies:
            dest = store / str(len(copies))
            shutil.copytree(path, dest, symlinks=True)
            copies[str(path)] = str(dest)
        return copies[str(path)]

    def run(self: Session, probe: str, params: dict[str, Any] | None = None,
            inputs: dict[str, Any] | None = None, *, seed: int = 0, limits: Any = None,
            view: dict[str, str] | None = None) -> Any:
        spec = self.spec
        with lock:
            extra = {k: kept(v) for k, v in spec.extra_ro.items()}
            kit, sub = kept(spec.kit_dir), kept(spec.submission_dir)
            rec = {
                "probe": probe, "params": params or {}, "seed": seed,
                "kit": extra.get((view or {}).get("kit", ""), kit),
                "submission": extra.get((view or {}).get("submission", ""), sub),
                "extra": extra, "probe_module": str(spec.probe_module),
                "inputs": {k: v.detach().cpu().contiguous().clone()
                           for k, v in (inputs or {}).items()},
            }
            found.setdefault(str(spec.submission_dir), []).append(rec)
        t0 = time.perf_counter()
        try:
            return real_run(self, probe, params, inputs, seed=seed, limits=limits, view=view)
        finally:
            rec["grader_s"] = time.perf_counter() - t0

    Session.run = run  # type: ignore[method-assign]
    try:
        yield found
    finally:
        Session.run = real_run  # type: ignore[method-assign]


def floor(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Replay ``records`` in one fresh process: import, probes and total seconds, and each's."""
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        plan = []
        for i, rec in enumerate(records):
            item = {k: v for k, v in rec.items() if k not in ("inputs", "grader_s")}
            if rec["inputs"]:
                item["inputs"] = f"{tmp}/in{i}.safetensors"
                save_file(rec["inputs"], item["inputs"])
            plan.append(item)
        (Path(tmp) / "plan.json").write_text(json.dumps(plan))
        out = subprocess.run(
            [sys.executable, __file__, "--replay", tmp],
            capture_output=True, text=True, check=True, cwd=tmp,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _replay(folder: Path) -> None:
    """The replay process: one torch import, then every probe in order, in this process."""
    t0 = time.perf_counter()
    import builtins
    import importlib.util
    import os

    import torch  # noqa: F401
    from safetensors.torch import load_file

    import grader.worker as nlpgrade_worker
    from grader.worker.context import ProbeContext
    from grader.worker.registry import PROBES
    from grader.worker.setup_child import populate_workdir, seed_everything

    sys.modules["nlpgrade_worker"] = nlpgrade_worker
    plan = json.loads((folder / "plan.json").read_text())
    loaded: set[str] = set()
    for item in plan:
        if item["probe_module"] not in loaded:
            spec = importlib.util.spec_from_file_location("nlpgrade_probes", item["probe_module"])
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            loaded.add(item["probe_module"])
    t_import = time.perf_counter() - t0
    base_modules, base_path = set(sys.modules), list(sys.path)
    saved_builtins = dict(builtins.__dict__)
    t1 = time.perf_counter()
    each = []
    for i, item in enumerate(plan):
        tp = time.perf_counter()
        work = folder / f"work{i}"
        work.mkdir()
        populate_workdir(work, Path(item["kit"]))
        os.chdir(work)
        seed_everything(int(item["seed"]), 1)
        ctx = ProbeContext(
            params=item["params"], workdir=work, seed=int(item["seed"]),
            inputs=load_file(item["inputs"]) if item.get("inputs") else {},
            kit=Path(item["kit"]), submission=Path(item["submission"]),
            extra={k: Path(v) for k, v in item["extra"].items()},
        )
        with contextlib.suppress(Exception):  # a student's error is part of the work
            PROBES[item["probe"]](ctx)
        for name in set(sys.modules) - base_modules:  # the next probe imports student code afresh
            del sys.modules[name]
        sys.path[:] = base_path
        builtins.__dict__.clear()
        builtins.__dict__.update(saved_builtins)
        each.append(time.perf_counter() - tp)
    probes_s = time.perf_counter() - t1
    os.chdir(folder)
    print(json.dumps({"import_s": t_import, "probes_s": probes_s, "total_s": t_import + probes_s,
                      "each_s": each}))


def main() -> None:
    """Grade the given submissions (default: the bundled correct one) and print their floors."""
    from grader.assignments import get_assignment
    from grader.batch import RunPlan, grade_all, intake, prepare_run
    from grader.sandbox import get_sandbox

    subs = [Path(p) for p in sys.argv[1:]] or [ROOT / "examples/bert_pretrain/alice_correct"]
    a = get_assignment("bert_pretrain")
    rubric = a.default_rubric()
    rubric = rubric.model_copy(update={"settings": {**rubric.settings, "profile": "small"}})
    with tempfile.TemporaryDirectory(prefix="bench-floor-class-") as tmp:
        klass = Path(tmp) / "class"
        klass.mkdir()
        for s in subs:
            subprocess.run(["cp", "-r", str(s), str(klass / s.name)], check=True)
        plan = RunPlan(assignment=a, rubric=rubric, sandbox=get_sandbox("auto"),
                       out_dir=Path(tmp) / "out", jobs=1, use_cache=False)
        prepare_run(plan)
        with record(Path(tmp) / "store") as found:
            t0 = time.perf_counter()
            results = grade_all(intake(klass, plan), plan)
            wall = time.perf_counter() - t0
        for r, recs in zip(sorted(results, key=lambda r: r.student), sorted(found.items()),
                           strict=False):
            f = floor(recs[1])
            bare = f["total_s"] + r.timings.reference_s
            print(f"{r.student}: {len(recs[1])} probes; grader {r.timings.total_s:.2f} s, "
                  f"floor {bare:.2f} s (import {f['import_s']:.2f}, probes {f['probes_s']:.2f}, "
                  f"parent {r.timings.reference_s:.2f}); ratio {r.timings.total_s / bare:.2f}x; "
                  f"grader: worker start {r.timings.worker_start_s:.2f}, "
                  f"sandboxed probes {r.timings.probes_s:.2f}")
            for rec, bare_s in zip(recs[1], f["each_s"], strict=True):
                print(f"    {rec['probe']:<14} grader {rec['grader_s']:.3f} s  bare {bare_s:.3f} s")
        print(f"class wall {wall:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--replay":
        _replay(Path(sys.argv[2]))
    else:
        main()
