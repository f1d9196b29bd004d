"""Fixtures of the sandbox tests: a fake class (students, reference, kit) and shared sessions."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.sandbox import Limits, SandboxSpec, Session, backend_available, get_sandbox

FIXTURES = Path(__file__).parent / "fixtures"
PROBES = FIXTURES / "probes.py"


def backends() -> list[str]:
    """Backends the contract tests run on (docker only when NLPGRADE_TEST_DOCKER=1)."""
    names = ["bwrap", "process"]
    if os.environ.get("NLPGRADE_TEST_DOCKER") == "1":
        names.append("docker")
    only = os.environ.get("NLPGRADE_TEST_BACKENDS")
    return [n for n in names if not only or n in only.split(",")]


@dataclass
class World:
    """A fake class on disk: alice's submission (hostile too), bob's folder, the reference."""

    root: Path
    alice: Path
    bob_secret: Path
    reference: Path
    kit: Path
    results: Path

    def spec(self, **kw: object) -> SandboxSpec:
        """A spec for alice's submission."""
        base = {
            "submission_dir": self.alice,
            "kit_dir": self.kit,
            "probe_module": PROBES,
            "limits": Limits(wall_s=20, cpu_s=20, memory_mb=1024, pids=32),
        }
        base.update(kw)
        return SandboxSpec(**base)  # type: ignore[arg-type]


def _chmod_tree(root: Path) -> None:
    """Make a tree world-readable (probes run as nobody)."""
    for dirpath, _, files in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in files:
            p = Path(dirpath) / f
            if not p.is_symlink():
                os.chmod(p, 0o644)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Build the fake class once."""
    root = tmp_path_factory.mktemp("class")
    alice = root / "students" / "alice"
    shutil.copytree(FIXTURES / "submission", alice)
    bob = root / "students" / "bob"
    bob.mkdir(parents=True)
    (bob / "secret.txt").write_text("BOB-SECRET")
    reference = root / "reference"
    reference.mkdir()
    (reference / "answer.txt").write_text("REFERENCE-SECRET")
    kit = root / "kit"
    shutil.copytree(FIXTURES / "kit", kit)
    shutil.copytree(FIXTURES / "refmod", root / "refmod")
    results = root / "results"
    results.mkdir()
    (alice / "shadow_link").symlink_to("/etc/shadow")
    (alice / "bob_link").symlink_to(bob / "secret.txt")
    _chmod_tree(root)
    return World(root, alice, bob / "secret.txt", reference, kit, results)


@pytest.fixture(params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    """Each available backend in turn."""
    ok, why = backend_available(request.param)
    if not ok:
        pytest.skip(f"{request.param}: {why}")
    return request.param


@pytest.fixture(scope="session")
def sessions(world: World) -> Iterator[Callable[[str], Session]]:
    """One shared session (worker) per backend, reused by most tests."""
    made: dict[str, Session] = {}

    def get(name: str) -> Session:
        if name not in made:
            made[name] = get_sandbox(name).open(world.spec())
        return made[name]

    yield get
    for s in made.values():
        s.close()


@pytest.fixture
def sess(backend: str, sessions: Callable[[str], Session]) -> Session:
    """The shared session of the current backend."""
    return sessions(backend)


@pytest.fixture
def isolating(backend: str) -> bool:
    """Whether the backend isolates (process does not)."""
    return backend != "process"
