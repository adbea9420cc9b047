"""The tool cache, the progress of long steps and `make doctor`, as a new machine sees them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.profiles import REPO_ROOT
from devstack.toolchain import StepFailed, build_once, cache_root, entry_problem, run_step
from devstack.toolchain.catalog import CACHED_TOOLS, SYSTEM_TOOLS, TARGETS

DEVSTACK_SRC = REPO_ROOT / "libs" / "devstack" / "src"


def _build_counter(calls: list[Path], content: bytes = b"binary") -> object:
    def build(folder: Path) -> None:
        calls.append(folder)
        (folder / "bin").mkdir()
        (folder / "bin" / "tool").write_bytes(content)

    return build


def test_an_entry_is_built_once_then_reused(tmp_path: Path) -> None:
    calls: list[Path] = []
    target = tmp_path / "tools" / "tool-v1"
    assert build_once(target, "tool@v1", _build_counter(calls)) == target  # type: ignore[arg-type]
    build_once(target, "tool@v1", _build_counter(calls))  # type: ignore[arg-type]
    assert len(calls) == 1
    assert (target / "bin" / "tool").read_bytes() == b"binary"
    assert entry_problem(target, "tool@v1") is None


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda t: (t / "bin" / "tool").write_bytes(b"bin"), "bin/tool changed"),
        (lambda t: (t / "bin" / "tool").write_bytes(b"binarY"), "bin/tool changed"),
        (lambda t: (t / "bin" / "tool").unlink(), "bin/tool is missing"),
        (lambda t: (t / ".flotilla-entry.json").unlink(), "incomplete"),
        (lambda t: (t / ".flotilla-entry.json").write_text("{"), "corrupt stamp"),
    ],
    ids=["truncated", "altered", "missing file", "partial (no stamp)", "broken stamp"],
)
def test_a_corrupt_or_partial_entry_is_detected_and_rebuilt(
    tmp_path: Path, damage: object, problem: str
) -> None:
    calls: list[Path] = []
    target = tmp_path / "tools" / "tool-v1"
    build_once(target, "tool@v1", _build_counter(calls))  # type: ignore[arg-type]
    damage(target)  # type: ignore[operator]
    assert problem in (entry_problem(target, "tool@v1") or "")
    build_once(target, "tool@v1", _build_counter(calls))  # type: ignore[arg-type]
    assert len(calls) == 2
    assert entry_problem(target, "tool@v1") is None


def test_a_new_version_rebuilds_and_a_failed_build_keeps_the_previous(tmp_path: Path) -> None:
    target = tmp_path / "tools" / "tool"
    build_once(target, "tool@v1", _build_counter([]))  # type: ignore[arg-type]
    assert "not 'tool@v2'" in (entry_problem(target, "tool@v2") or "")

    def failing(folder: Path) -> None:
        (folder / "half-written").write_text("x")
        raise RuntimeError("network gone")

    with pytest.raises(RuntimeError, match="network gone"):
        build_once(target, "tool@v2", failing)
    assert entry_problem(target, "tool@v1") is None  # the previous build is untouched
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == [
        "tool"
    ]


def test_the_cache_lives_outside_the_clone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FLOTILLA_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == (tmp_path / "xdg" / "flotilla").resolve()
    monkeypatch.setenv("FLOTILLA_CACHE", str(tmp_path / "explicit"))
    assert cache_root() == (tmp_path / "explicit").resolve()
    monkeypatch.delenv("FLOTILLA_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert REPO_ROOT not in cache_root().parents


def test_a_long_step_prints_a_start_line_and_heartbeats(capsys: pytest.CaptureFixture[str]) -> None:
    run_step(
        [
            sys.executable,
            "-c",
            "import time\nfor i in range(4): print('step', i, flush=True); time.sleep(0.3)",
        ],
        what="counting",
        estimate="about a second",
        heartbeat_s=0.25,
    )
    err = capsys.readouterr().err
    assert "==> counting (about a second)" in err
    assert re.search(r"\.\.\. counting: \d+s \| step \d", err)
    assert "==> counting: done in" in err


def test_a_failed_step_says_what_failed_with_its_output() -> None:
    with pytest.raises(StepFailed, match=r"(?s)fetching failed \(exit 3\).*no route to host"):
        run_step(
            [sys.executable, "-c", "import sys; print('no route to host'); sys.exit(3)"],
            what="fetching",
            estimate="now",
        )


def _toolchain(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack.toolchain", *args],
        env={**env, "PYTHONPATH": str(DEVSTACK_SRC)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_doctor_names_each_missing_tool_with_the_command_that_installs_it(tmp_path: Path) -> None:
    # A machine with an empty tool cache and nothing on its PATH.
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {"PATH": str(empty_bin), "FLOTILLA_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    result = _toolchain("doctor", "--for", "deploy-check", env=env)
    assert result.returncode == 1
    assert re.search(r"^helm\s+deploy-check,test,k8s\s+.*MISSING", result.stdout, re.MULTILINE)
    assert "  helm: make tools TOOLS=helm" in result.stderr
    assert "  promtool: make tools TOOLS=promtool  (apt-get install prometheus)" in result.stderr
    assert "Traceback" not in result.stderr


def test_doctor_passes_when_everything_a_target_needs_is_there() -> None:
    result = _toolchain("doctor", "--for", "up", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert re.search(
        r"^postgres\s+up,test,bench\s+Debian package postgresql-15\s+ok", result.stdout, re.M
    )


def test_every_tool_the_makefile_locates_is_in_the_catalogue() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    located = set(re.findall(r"tool_path,(\w+)", makefile))
    assert located
    assert located <= set(CACHED_TOOLS) | set(SYSTEM_TOOLS)
    for target in TARGETS:
        for tool in TARGETS[target]:
            assert tool in CACHED_TOOLS or tool in SYSTEM_TOOLS, (target, tool)
    # Each target that runs tools installs them first.
    for target, ensure in [
        ("up", "up"),
        ("test", "test"),
        ("deploy-tools", "deploy-check"),
        ("obs-tools", "obs"),
        ("bench", "bench"),
        ("chaos", "up"),
    ]:
        recipe = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
        assert recipe, target
        assert f"ensure --for {ensure}" in recipe.group(1), target
