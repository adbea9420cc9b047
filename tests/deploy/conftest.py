"""Offline Kubernetes checks: the pinned tools `make deploy-tools` fetched, renders, validators.

No cluster and no running stack: everything here renders with helm or kustomize and validates
the objects against Kubernetes' own schemas (kubernetes-validate, strict) and the CRDs' schemas
(kubeconform, strict, with the CRDs converted to JSON Schema below).
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

from devstack.charts import KUBE_VERSION
from devstack.profiles import REPO_ROOT
from devstack.toolchain.catalog import CACHED_TOOLS

Object = dict[str, Any]

HELM_DIR = REPO_ROOT / "deploy" / "helm"
UMBRELLA = HELM_DIR / "flotilla"
SERVICE_CHART = HELM_DIR / "service"
K8S = REPO_ROOT / "deploy" / "k8s"
OUR_CRDS = Path(__file__).parent / "crds"
# Kinds whose schemas come from CRDs (validated by kubeconform); the rest are Kubernetes'.
CRD_GROUPS = frozenset(
    {
        "monitoring.coreos.com",
        "gateway.networking.k8s.io",
        "gateway.envoyproxy.io",
        "kafka.strimzi.io",
    }
)


@dataclass(frozen=True)
class Tools:
    helm: Path
    kubeconform: Path
    kubectl: str
    crds: Path

    def run(self, *argv: str | Path, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, check=False
        )


@pytest.fixture(scope="session")
def tools() -> Tools:
    located = {name: CACHED_TOOLS[name].locate() for name in ("helm", "kubeconform", "crds")}
    kubectl = shutil.which("kubectl")
    missing = [name for name, path in located.items() if path is None]
    if not kubectl:
        missing.append("kubectl")
    if missing:
        pytest.fail(f"deploy tools missing ({', '.join(missing)}): run `make deploy-tools`")
    helm, kubeconform, crds = (located[name] for name in ("helm", "kubeconform", "crds"))
    assert helm is not None
    assert kubeconform is not None
    assert crds is not None
    assert kubectl is not None
    return Tools(helm, kubeconform, kubectl, crds)


def load_objects(text: str) -> list[Object]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="session")
def helm_template(tools: Tools) -> Callable[..., list[Object]]:
    """Render a chart: `helm_template(chart, values=[...], sets=[...])` → its objects."""

    @functools.cache
    def render(
        chart: Path = UMBRELLA, values: tuple[str, ...] = (), sets: tuple[str, ...] = ()
    ) -> tuple[str, ...]:
        argv: list[str | Path] = [tools.helm, "template", "flotilla", chart]
        argv += ["--kube-version", KUBE_VERSION]
        for file in values:
            argv += ["-f", chart / file]
        for assignment in sets:
            argv += ["--set", assignment]
        result = tools.run(*argv)
        assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
        return (result.stdout,)

    def objects(
        chart: Path = UMBRELLA, values: Sequence[str] = (), sets: Sequence[str] = ()
    ) -> list[Object]:
        return load_objects(render(chart, tuple(values), tuple(sets))[0])

    return objects


@pytest.fixture(scope="session")
def kustomize(tools: Tools) -> Callable[[Path], list[Object]]:
    @functools.cache
    def build(overlay: Path) -> str:
        result = tools.run(tools.kubectl, "kustomize", overlay)
        assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
        return result.stdout

    return lambda overlay: load_objects(build(overlay))


# -- schemas ------------------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """Refuse unknown fields wherever the CRD lists its fields (kubectl's strict decoding)."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if schema.get("x-kubernetes-int-or-string"):
            schema.pop("type", None)
            schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_strict(item) for item in schema]
    return schema


def crd_json_schemas(crd_files: Iterable[Path], out: Path) -> list[Path]:
    """kubeconform's layout: `<out>/<group>/<kind>_<version>.json`, one per served version."""
    written = []
    for path in crd_files:
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"].lower()
        for version in crd["spec"]["versions"]:
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            schema["properties"]["metadata"] = {"type": "object"}  # checked by the API server
            target = out / group / f"{kind}_{version['name']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(_strict(schema)))
            written.append(target)
    return written


@pytest.fixture(scope="session")
def crd_schema_dir(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crd-schemas")
    crd_json_schemas([*tools.crds.glob("*.yaml"), *OUR_CRDS.glob("*.yaml")], out)
    return out


class KubernetesSchemas:
    """kubernetes-validate's strict schemas for one Kubernetes version, loaded once."""

    def __init__(self, version: str) -> None:
        minor = ".".join(version.split(".")[:2])
        root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
        self.folder = root / f"v{minor}.0-local-strict"
        definitions = json.loads((self.folder / "_definitions.json").read_text())
        self.registry: Registry[Any] = Resource.from_contents(definitions) @ Registry()

    @functools.cache  # noqa: B019 - one instance per session
    def validator(self, api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
        group_version = api_version.split("/")
        name = (
            group_version[0].split(".")[0] + "-" + group_version[1]
            if len(group_version) == 2
            else api_version
        )
        path = self.folder / f"{kind.lower()}-{name}.json"
        if not path.exists():
            return None
        schema = json.loads(path.read_text())
        return jsonschema.Draft202012Validator(
            schema, registry=Resource.from_contents(schema) @ self.registry
        )

    def problems(self, obj: Object) -> list[str]:
        validator = self.validator(obj.get("apiVersion", ""), obj.get("kind", ""))
        if validator is None:
            return [f"{describe(obj)}: no Kubernetes {KUBE_VERSION} schema for this kind"]
        return [
            f"{describe(obj)}: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(obj)
        ]


def describe(obj: Object) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


@pytest.fixture(scope="session")
def validate(
    tools: Tools, crd_schema_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[Sequence[Object]], list[str]]:
    """Every object against its schema, strictly: a list of problems, empty when all is valid."""
    kubernetes = KubernetesSchemas(KUBE_VERSION)
    location = (
        str(crd_schema_dir) + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
    )

    def check(objects: Sequence[Object]) -> list[str]:
        problems: list[str] = []
        custom = [o for o in objects if o.get("apiVersion", "").split("/")[0] in CRD_GROUPS]
        for obj in objects:
            if obj not in custom:
                problems += kubernetes.problems(obj)
        if custom:
            manifest = tmp_path_factory.mktemp("kubeconform") / "custom.yaml"
            manifest.write_text(yaml.safe_dump_all(custom))
            result = tools.run(
                tools.kubeconform, "-strict", "-summary", "-output", "json",
                "-schema-location", location, manifest,
            )  # fmt: skip
            report = json.loads(result.stdout or "{}")
            problems += [
                f"{r['kind']}/{r['name']}: {r['status']}: {r.get('msg', '')}"
                for r in report.get("resources", [])
                if r["status"] != "statusValid"
            ]
            if result.returncode != 0 and not problems:
                problems.append(f"kubeconform failed: {result.stderr or result.stdout}")
        return problems

    return check
