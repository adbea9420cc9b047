"""After the files are written: everything the repository derives from a service, regenerated.

Order matters, each step reading what the one before wrote:
1. `devstack.manifests generate`: from the manifests, the route table, the topic file's entries,
   the workspace's tool lists (mypy, import-linter, isort), the chart and skaffold, dev secrets;
2. ruff on the new files: their imports ordered (the order depends on the lists step 1 wrote),
   formatted, then linted (a finding there is the template's fault);
3. `uv lock` and `uv sync`: the new package is a workspace member, installed in `.venv`;
4. `contracts generate`: the event's JSON Schema and the AsyncAPI document (needs the topic);
5. `devstack.openapi generate`: the service's openapi.json and typed client (imports it);
6. `devstack.charts generate`: the chart's copies of the route table and the topic file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.toolchain import StepFailed, run_step

__all__ = ["GenerationFailed", "Step", "generation_steps", "run"]


@dataclass(frozen=True)
class Step:
    what: str
    argv: tuple[str, ...]
    estimate: str = "seconds"


def generation_steps(
    root: Path, new_paths: Sequence[Path], *, uv: Path, helm: Path | None
) -> tuple[list[Step], list[str]]:
    """The steps to run in `root`, and what is left undone (to tell the user)."""
    python = sys.executable
    ruff = str(Path(python).parent / "ruff")
    quiet = ("--quiet", *(str(path.relative_to(root)) for path in new_paths))
    left: list[str] = []
    steps = [
        Step("deriving the deploy files from the manifests", _py("devstack.manifests", "generate")),
        Step("ordering the new files' imports", (ruff, "check", "--select", "I", "--fix", *quiet)),
        Step("formatting the new files", (ruff, "format", *quiet)),
        Step("linting the new files", (ruff, "check", *quiet)),
        Step("adding the package to uv.lock", (str(uv), "lock"), "a few seconds"),
        Step(
            "installing it into .venv",
            (str(uv), "sync", "--frozen", "--all-packages"),
            "a few seconds",
        ),
        Step("writing the event's schema and asyncapi.yaml", _py("contracts", "generate")),
        Step(
            "writing openapi.json and the typed client",
            _py("devstack.openapi", "generate"),
            "about 30 s",
        ),
    ]
    if helm is not None:
        steps.append(
            Step(
                "refreshing the chart's generated copies",
                _py("devstack.charts", "generate", "--helm", str(helm)),
                "about 30 s",
            )
        )
    else:
        left.append("helm was not found: run `make deploy-generate`")
    return steps, left


class GenerationFailed(RuntimeError):
    """A step failed; the message has its output's tail, `remaining` that step and the rest."""

    def __init__(self, message: str, remaining: Sequence[Step]) -> None:
        super().__init__(message)
        self.remaining = tuple(remaining)


def run(root: Path, steps: Sequence[Step]) -> None:
    """Run each step in `root`, stopping at the first that fails (GenerationFailed)."""
    for index, step in enumerate(steps):
        try:
            run_step(step.argv, what=step.what, estimate=step.estimate, cwd=root)
        except StepFailed as failed:
            raise GenerationFailed(str(failed), steps[index:]) from failed


def _py(module: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", module, *args)
