"""`python -m devstack.scaffold new NAME`: which names it refuses and why, and the files it
writes — a manifest that fits beside the others, code that compiles and lints, an event model
that matches the manifest, the registry entry. Nothing is regenerated here (`--files-only`);
tests/scaffold runs the whole `make new-service` in a copy of the repository."""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.manifest import load_manifest, load_manifests
from contracts.topology import load_topology
from devstack.profiles import REPO_ROOT
from devstack.scaffold import NameRefused, ScaffoldError, rendered_files, service_names
from devstack.scaffold.__main__ import main
from devstack.scaffold.render import REGISTRY, register_event, write_files

EXISTING = load_manifests(REPO_ROOT / "services")
TOPICS = [topic.name for topic in load_topology(REPO_ROOT / "deploy" / "topics.yaml").topics]


def _names(name: str, **options: str) -> object:
    return service_names(name, EXISTING, TOPICS, taken_modules={"values", "base"}, **options)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Reviews", "lower-case letters and digits"),
        ("re-views", "lower-case letters and digits"),
        ("re_views", "no '-' or '_'"),
        ("r2d2", "starting with two letters"),
        ("", "not a service name"),
        ("x" * 21, "2 to 20"),
        ("async", "Python keyword"),
        ("match", "Python keyword"),
        ("json", "standard library"),
        ("catalog", "already a service"),
        ("values", "already a module of contracts or clients"),
        ("events", "reserved for the platform"),
        ("servicekit", "reserved for the platform"),
        ("fastapi", "already an installed Python package"),
    ],
)
def test_a_name_that_cannot_be_a_service_is_refused_saying_why(name: str, why: str) -> None:
    with pytest.raises(NameRefused, match=why):
        _names(name)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("aggregate", "why"),
    [
        ("product", "createProduct, getProduct are another service's"),
        ("session", "clash with a name in the template's code"),
        ("class", "clash with a name in the template's code"),
        ("Review", "lower-case letters and digits"),
    ],
)
def test_an_aggregate_that_would_break_the_template_is_refused(aggregate: str, why: str) -> None:
    taken = {"createProduct", "getProduct"}
    with pytest.raises(NameRefused, match=why):
        service_names("reviews", EXISTING, TOPICS, taken_operation_ids=taken, aggregate=aggregate)


@pytest.mark.unit
def test_a_topic_already_named_after_the_service_is_refused() -> None:
    with pytest.raises(NameRefused, match=r"reviews\.review"):
        service_names("reviews", EXISTING, [*TOPICS, "reviews.review"])


@pytest.mark.unit
def test_a_new_service_takes_the_next_slot_and_names_its_aggregate_topic_and_ids() -> None:
    names = service_names("reviews", EXISTING, TOPICS)
    assert names.slot == max(m.slot for m in EXISTING) + 1
    assert (names.aggregate, names.collection, names.topic) == (
        "review",
        "reviews",
        "reviews.review",
    )
    assert (names.id_prefix, names.title_name, names.aggregate_class) == (
        "rev",
        "Reviews",
        "Review",
    )
    assert names.subscribed_topic == "orders.order"
    assert service_names("shipping", EXISTING, TOPICS).aggregate == "shipping"
    assert service_names("press", EXISTING, TOPICS).collection == "presses"


def _repository(root: Path) -> Path:
    """The parts of this repository the scaffold reads and edits, copied under `root`."""
    for service in EXISTING:
        for relative in (
            f"services/{service.name}/pyproject.toml",
            f"services/{service.name}/openapi.json",
            f"services/{service.name}/src/{service.name}/service.toml",
        ):
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_ROOT / relative, root / relative)
    for relative in ("deploy/topics.yaml", str(REGISTRY)):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / relative, root / relative)
    shutil.copytree(REPO_ROOT / "libs/clients/src/clients", root / "libs/clients/src/clients")
    return root


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _repository(tmp_path_factory.mktemp("repo"))
    assert main(["new", "reviews", "--root", str(root), "--files-only"]) == 0
    return root


@pytest.mark.unit
def test_the_manifest_fits_beside_the_other_services(written: Path) -> None:
    manifest = load_manifest(written / "services/reviews/src/reviews/service.toml")
    assert manifest.http.prefix == "/reviews"
    assert manifest.public
    assert manifest.topics == ("reviews.review",)
    assert manifest.consumer is not None
    assert manifest.consumer.subscribes == ["orders.order"]
    assert manifest.consumer.retry is not None
    # cross-checked with the others: slot and prefix free, the subscribed topic published
    assert "reviews" in {m.name for m in load_manifests(written / "services")}


@pytest.mark.unit
def test_no_placeholder_is_left_and_every_python_file_compiles(written: Path) -> None:
    files = [
        *(written / "services/reviews").rglob("*"),
        written / "libs/contracts/src/contracts/reviews.py",
    ]
    texts = {path: path.read_text() for path in files if path.is_file()}
    assert len(texts) >= 20
    for path, text in texts.items():
        assert "{{" not in text, path
        if path.suffix == ".py":
            compile(text, str(path), "exec")


@pytest.mark.unit
def test_the_event_model_is_the_one_the_manifest_publishes(written: Path) -> None:
    path = written / "libs/contracts/src/contracts/reviews.py"
    spec = importlib.util.spec_from_file_location("scaffolded_reviews_contract", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.ReviewCreatedV1
    assert (model.EVENT_TYPE, model.TOPIC, model.SUBJECT_FIELD) == (
        "reviews.review.created.v1",
        "reviews.review",
        "review_id",
    )
    assert "review_id" in model.model_fields


@pytest.mark.unit
def test_the_registry_imports_and_lists_the_new_event(written: Path) -> None:
    tree = ast.parse((written / REGISTRY).read_text())
    imported = {
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert ("contracts.reviews", "ReviewCreatedV1") in imported
    [listed] = [
        node.value.args[0]
        for node in tree.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "EVENT_TYPES"
        and isinstance(node.value, ast.Call)
    ]
    assert isinstance(listed, ast.Tuple)
    assert "ReviewCreatedV1" in {
        element.id for element in listed.elts if isinstance(element, ast.Name)
    }


@pytest.mark.unit
def test_a_second_run_refuses_the_name_and_changes_nothing(
    written: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = (written / REGISTRY).read_text()
    assert main(["new", "reviews", "--root", str(written), "--files-only"]) == 2
    assert "'reviews' is already a service" in capsys.readouterr().err
    assert (written / REGISTRY).read_text() == registry


@pytest.mark.unit
def test_files_that_exist_are_never_overwritten(tmp_path: Path) -> None:
    names = service_names("reviews", EXISTING, TOPICS)
    files = rendered_files(names)
    kept = tmp_path / files[-1].path
    kept.parent.mkdir(parents=True)
    kept.write_text("mine")
    with pytest.raises(ScaffoldError, match="exist already, nothing was written"):
        write_files(tmp_path, files)
    assert kept.read_text() == "mine"
    assert not (tmp_path / files[0].path).exists()


@pytest.mark.unit
def test_a_registry_without_its_event_list_is_named(tmp_path: Path) -> None:
    (tmp_path / REGISTRY).parent.mkdir(parents=True)
    (tmp_path / REGISTRY).write_text("from contracts.base import Event\n")
    with pytest.raises(ScaffoldError, match="add ReviewCreatedV1 to EVENT_TYPES by hand"):
        register_event(tmp_path, service_names("reviews", EXISTING, TOPICS))


@pytest.mark.parametrize(
    ("name", "aggregate"),
    [("reviews", None), ("abcdefghijklmnopqrst", "uvwxyzabcdefghijklmn")],  # the longest allowed
)
def test_the_written_code_passes_ruff_once_its_imports_are_ordered(
    tmp_path: Path, name: str, aggregate: str | None
) -> None:
    """What the scaffold runs after writing: once its imports are ordered and it is formatted,
    ruff finds nothing, whatever the names' length."""
    root = _repository(tmp_path)
    options = ["--aggregate", aggregate] if aggregate else []
    assert main(["new", name, "--root", str(root), "--files-only", *options]) == 0
    ruff = Path(sys.executable).parent / "ruff"
    config = ("--config", str(REPO_ROOT / "pyproject.toml"))
    new = [str(root / "services" / name), str(root / f"libs/contracts/src/contracts/{name}.py")]
    for argv in (
        [ruff, "check", *config, "--select", "I", "--fix", *new],
        [ruff, "format", *config, *new],
        [ruff, "check", *config, *new],
    ):
        result = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
