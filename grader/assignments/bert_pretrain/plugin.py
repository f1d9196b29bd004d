"""The CS310 A6 plug-in: kits, sessions and the shared state of a grading run."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from safetensors.torch import load_file, save_file

from grader.assignments.base import Assignment
from grader.assignments.bert_pretrain import inputs as probe_inputs
from grader.assignments.bert_pretrain.checks import registry
from grader.assignments.bert_pretrain.kit import Kit, build_kit, default_cache_dir
from grader.assignments.bert_pretrain.profiles import get_profile
from grader.rubric import Rubric
from grader.sandbox import Limits, SandboxSpec

if TYPE_CHECKING:
    from grader.context import GradingContext

# Budgets are CPU seconds of the probe's process tree; the wall-clock net is 4x (Limits).
PROBE_LIMITS = Limits(cpu_s=20, memory_mb=3072)  # probes take < 1 s in small
TRAIN_LIMITS = Limits(cpu_s=120, memory_mb=3072)  # the subset epoch: ~8 s
EVAL_LIMITS = Limits(cpu_s=120, memory_mb=4096)  # official-size eval: ~15 s
LOOP_MARGIN = 1.0  # a correct loop lands within this of the reference's loss on the fixed subset
CALIBRATION_VERSION = 2  # bump when the calibrated quantity changes


@dataclass
class Prepared:
    """What every submission of one run shares: kits, expected layouts, calibrated thresholds."""

    probe_kit: Kit
    checkpoint_kit: Kit
    probe_config: dict[str, int]
    probe_shapes: dict[str, list[int]]
    checkpoint_shapes: dict[str, list[int]]
    checkpoint_profile: str
    n_eval_batches: int
    n_train_batches: int
    reference_model_dir: Path | None
    loop_threshold: float = 0.0
    train_limits: Limits = TRAIN_LIMITS
    eval_limits: Limits = EVAL_LIMITS
    calibration: dict[str, Any] = field(default_factory=dict)
    reference_loop_state: dict[str, Any] = field(default_factory=dict)  # ref loop + ref model

    @property
    def kit_hash(self) -> str:
        """Both kits' hashes (part of the result cache key)."""
        return f"{self.probe_kit.hash[:16]}-{self.checkpoint_kit.hash[:16]}"


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
        # Only the reference tier evaluates checkpoints: precheck never builds that kit.
        same = ck_profile == probe_kit.profile or not with_reference
        ck_kit = probe_kit if same else build_kit(ck_profile, **kw)
        ref_model_dir = None
        ref = self.reference_dir() if with_reference else None
        if ref is not None:
            # Only model.py is mounted for the loop check: the reference train.py stays out.
            ref_model_dir = Path(tempfile.mkdtemp(prefix="nlpgrade-refmodel-"))
            shutil.copy2(ref / "model.py", ref_model_dir / "model.py")
            ref_model_dir.chmod(0o755)
            (ref_model_dir / "model.py").chmod(0o644)
        cfg = _config(probe_kit)
        return Prepared(
            probe_kit=probe_kit,
            checkpoint_kit=ck_kit,
            probe_config=cfg,
            probe_shapes=probe_inputs.expected_state_dict(cfg),
            checkpoint_shapes=probe_inputs.expected_state_dict(_config(ck_kit)),
            checkpoint_profile=ck_kit.profile,
            n_eval_batches=ck_kit.n_eval_batches,
            n_train_batches=probe_kit.n_train_batches,
            reference_model_dir=ref_model_dir,
        )

    def calibrate_run(self, plan: Any) -> None:
        """Set the loop threshold from the reference's own loop on the fixed subset.

        The reference ``train.py`` + ``model.py`` train one epoch on the kit's fixed batches; a
        student's loop (run with the reference model) must land within ``LOOP_MARGIN`` of that.
        Cached per kit under the cache folder, so it runs once per kit and machine.
        """
        from grader.assignments.bert_pretrain.checks import trusted_loss
        from grader.context import GradingContext, SharedSessions
        from grader.safeload import load_state_dict

        prepared: Prepared = plan.prepared
        name = f"{prepared.probe_kit.hash}-v{CALIBRATION_VERSION}"
        path = default_cache_dir().parent / "calibration" / f"{name}.json"
        weights = path.with_suffix(".safetensors")
        if path.is_file() and weights.is_file():
            prepared.calibration = json.loads(path.read_text())
            prepared.reference_loop_state = load_file(weights)
        else:
            ref = self.reference_dir()
            assert ref is not None
            shared = SharedSessions()
            ctx = GradingContext(
                assignment=self,
                rubric=plan.rubric,
                prepared=prepared,
                sandbox=plan.sandbox,
                student="__reference__",
                submission_dir=ref,
                files={},
                with_reference=True,
                shared=shared,
            )
            try:
                out = ctx.probe("train", {"model": "own"}, session="reference", limits=TRAIN_LIMITS)
                if out.status != "ok" or out.error is not None or "bert_model.pt" not in out.files:
                    raise RuntimeError(
                        f"the reference training run failed: {out.message} "
                        f"{out.error.message if out.error else ''}"
                    )
                state = load_state_dict(out.files["bert_model.pt"], max_bytes=64 << 20)
                losses = trusted_loss(
                    ctx,
                    {k: state[k] for k in prepared.probe_shapes if not k.endswith(".pe")},
                    "reference",
                )
            finally:
                ctx.close()
                shared.close()
            prepared.calibration = {
                **losses,
                "kit": prepared.probe_kit.hash,
                "batches": prepared.n_train_batches,
            }
            prepared.reference_loop_state = {
                k: v.clone().contiguous()
                for k, v in state.items()
                if k in prepared.probe_shapes and k != "decoder.weight" and not k.endswith(".pe")
            }
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{secrets.token_hex(8)}.tmp")  # pids repeat across namespaces
            save_file(prepared.reference_loop_state, str(tmp))
            tmp.replace(weights)
            tmp.write_text(json.dumps(prepared.calibration, indent=2))
            tmp.replace(path)
        prepared.loop_threshold = round(prepared.calibration["loss_real"] + LOOP_MARGIN, 2)

    def session_spec(self, ctx: GradingContext, session: str) -> SandboxSpec:
        """Mounts per session kind (see the module docstring of checks.py for their use)."""
        prepared: Prepared = ctx.prepared
        reference = session.startswith("reference")
        sub = self.reference_dir() if reference else ctx.submission_dir
        if sub is None:
            raise RuntimeError("the reference solution is not available here")
        kit = prepared.checkpoint_kit if session.endswith("checkpoint") else prepared.probe_kit
        extra = {}
        if session == "student_refmodel":
            if prepared.reference_model_dir is None:
                raise RuntimeError("the reference model is not available here")
            extra["/reference_model"] = prepared.reference_model_dir
        return SandboxSpec(
            submission_dir=sub,
            kit_dir=kit.dir,
            probe_module=self.probe_module,
            extra_ro=extra,
            limits=PROBE_LIMITS,
        )
