"""The CS310 A6 plug-in: kits, the run's shared state and the sandbox sessions.

Session kinds (all hold student code; none holds reference code or hidden data). ``student``
and ``loop`` share ONE sandboxed worker per submission (one torch import) through per-probe
views:

- ``student``: the submission + the probe kit (property and reference-tier probes);
- ``student_checkpoint`` (its own worker, rare: a checkpoint of another profile run by the
  student's own model, or precheck's estimate): the submission + the checkpoint kit (its eval
  inputs, not targets);
- ``loop``: a folder with only the submission's ``train.py`` (``/loop_submission``) + a kit
  holding the probe kit's first ``loop_batches`` train batches (``/loop_kit``) + the grader's
  stand-in model at ``/standin`` (``checks/loop.py``). The loop's probe can still read the
  submission's other files by absolute path; that earns nothing, because the parent judges the
  loop only by the stand-in's trajectory, which it recomputes itself.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from grader.assignments.base import Assignment
from grader.assignments.bert_pretrain import inputs as probe_inputs
from grader.assignments.bert_pretrain.checks import registry
from grader.assignments.bert_pretrain.kit import Kit, build_kit, make_loop_kit
from grader.assignments.bert_pretrain.prepared import PROBE_LIMITS, Prepared
from grader.assignments.bert_pretrain.profiles import get_profile
from grader.assignments.bert_pretrain.recompute import STANDIN_DIR
from grader.rubric import Rubric
from grader.sandbox import SandboxSpec

if TYPE_CHECKING:
    from grader.context import GradingContext


LOOP_BATCHES = 100  # the loop check's epoch: a loop bug shows within a few steps


def _config(kit: Kit) -> dict[str, int]:
    return {**get_profile(kit.profile).config_values(), "VOCAB_SIZE": kit.vocab_size}


class BertPretrain(Assignment):
    """CS310 Assignment 6: BERT pretraining (MLM + NSP), 50 points."""

    name: ClassVar[str] = "bert_pretrain"
    title: ClassVar[str] = "CS310 Assignment 6: BERT Pretraining"
    required_files: ClassVar[tuple[str, ...]] = ("model.py", "train.py", "bert_model.pt")
    framework_files: ClassVar[tuple[str, ...]] = (
        "config.py",
        "vocab.py",
        "batchify.py",
        "vocab.txt",
    )
    checks = registry
    data_settings: ClassVar[tuple[str, ...]] = ("corpus", "vocab")
    profiles: ClassVar[dict[str, str]] = {
        "official": "the course's model (6 layers, d_model 768): what bert_model.pt is graded in",
        "small": "a 2-layer, d_model 64 model for quick runs and the zoo",
    }
    default_choice: ClassVar[bool] = True
    checkpoint_file: ClassVar[str | None] = "bert_model.pt"

    def kit_hash(self, prepared: Prepared) -> str:
        """Both kits' hashes."""
        return prepared.kit_hash

    def precheck_settings(self, *, train: bool) -> dict[str, object]:
        """The student's own short training run (unless ``--no-train``) and the checkpoint test."""
        return {"own_training": train, "check_checkpoint": True}

    def precheck_checks(self, *, train: bool) -> tuple[str, ...]:
        """The training run's report and the checkpoint's precheck."""
        return ("info.own_training", "checkpoint.precheck") if train else ("checkpoint.precheck",)

    def prepare(self, rubric: Rubric, *, with_reference: bool) -> Prepared:
        """Build the probe kit (small) and the checkpoint kit (the rubric's profile)."""
        corpus = rubric.setting("corpus", "")
        vocab = rubric.setting("vocab", "")
        kw = {
            "corpus": Path(str(corpus)) if corpus else None,
            "vocab": Path(str(vocab)) if vocab else None,
        }
        probe_kit = build_kit(str(rubric.setting("probe_profile", "small")), **kw)
        ck_profile = str(rubric.setting("profile", "official"))
        # Only the reference tier evaluates checkpoints: precheck builds that kit only on demand.
        same = ck_profile == probe_kit.profile or not with_reference
        ck_kit = probe_kit if same else build_kit(ck_profile, **kw)
        cfg = _config(probe_kit)
        loop_batches = min(int(rubric.setting("loop_batches", LOOP_BATCHES)),
                           probe_kit.n_train_batches)
        prepared = Prepared(
            probe_kit=probe_kit,
            checkpoint_kit=ck_kit,
            probe_config=cfg,
            probe_shapes=probe_inputs.expected_state_dict(cfg),
            checkpoint_shapes=probe_inputs.expected_state_dict(_config(ck_kit)),
            checkpoint_profile=ck_kit.profile,
            n_eval_batches=ck_kit.n_eval_batches,
            n_train_batches=probe_kit.n_train_batches,
            reference_dir=self.reference_dir() if with_reference else None,
            kit_args=kw,
            loop_kit_dir=make_loop_kit(probe_kit, loop_batches),
            loop_batches=loop_batches,
        )
        weakref.finalize(prepared, shutil.rmtree, prepared.loop_kit_dir, True)
        return prepared

    def session_spec(self, ctx: GradingContext, session: str) -> SandboxSpec:
        """Mounts per worker kind: ``student`` (with the loop's view) or ``student_checkpoint``."""
        prepared: Prepared = ctx.prepared
        if session == "student_checkpoint":
            kit_dir, extra = prepared.checkpoint_kit.dir, {}
        elif session == "student":
            kit_dir, extra = prepared.probe_kit.dir, {"/standin": STANDIN_DIR}
            if prepared.loop_kit_dir is not None:
                extra["/loop_kit"] = prepared.loop_kit_dir
                extra["/loop_submission"] = _train_only(ctx)
        else:
            raise RuntimeError(f"unknown session kind {session!r}")
        return SandboxSpec(
            submission_dir=ctx.submission_dir,
            kit_dir=kit_dir,
            probe_module=self.probe_module,
            extra_ro=extra,
            limits=PROBE_LIMITS,
        )

    def session_view(self, session: str) -> tuple[str, dict[str, str] | None]:
        """The loop runs in the student's worker, seeing its own kit and only train.py."""
        if session == "loop":
            return "student", {"kit": "/loop_kit", "submission": "/loop_submission"}
        return session, None


def _train_only(ctx: GradingContext) -> Path:
    """A folder holding only a copy of the submission's train.py (removed with the context)."""
    folder = Path(tempfile.mkdtemp(prefix="nlpgrade-loop-"))
    weakref.finalize(ctx, shutil.rmtree, folder, True)
    folder.chmod(0o755)
    if ctx.has_file("train.py"):
        shutil.copyfile(ctx.submission_dir / "train.py", folder / "train.py")
        (folder / "train.py").chmod(0o644)
    return folder
