"""`make images`: every image the charts reference, built here with podman, from no registry.

No registry image can be pulled on this machine, so everything starts from Debian's packages: a
minbase root filesystem from `mmdebstrap` (cached outside the clone, see `devstack.toolchain`)
imported as the base image, Debian's python3 on top of it for the services, uv assembled from
its PyPI wheel, Kafka's jars from Maven Central. The services are built with the repository's
own Dockerfile, its base images passed as build arguments (the same file builds from public
images under Docker), with the API docs pages' files (Swagger UI, ReDoc) from the tool cache's
`docs-assets` entry as a FROM-scratch image; the load generator (`python -m devstack.load`, the
umbrella chart's optional `loadGenerator`) from the same Dockerfile's `load-generator` stage,
with the devstack package installed; the gateway, Postgres, Kafka and the dev cluster's SMTP
sink (devstack's smtp_sink.py on Debian's aiosmtpd) from the recipes in `deploy/images/`. The
proxy's CA bundle reaches `uv sync` as a build secret, so it is in no image. Builds are
incremental: podman's layer cache, the Dockerfile's dependency layer changing only with uv.lock.

Tags are `<version>-<git short sha>`: a service's version from its pyproject.toml, the others'
from what they package (Postgres 15, Kafka, Debian's nginx). A clean tree's tags are immutable
(built once, then kept); uncommitted changes give `<version>-<sha>-dirty`, rebuilt every run.
Images are named `docker.io/flotilla/<name>:<tag>` so that `podman save | ctr -n k8s.io images
import -` gives containerd the names kubelet looks up for the charts' `flotilla/<name>:<tag>`.

    python -m devstack.images build          # what `make images` runs
    python -m devstack.images list           # the refs of this tree, one a line
    python -m devstack.images helm-set       # `--set` arguments for the umbrella chart
    python -m devstack.images save ARCHIVE   # every image, one docker-archive for `ctr import`
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.kafka import KAFKA_VERSION, LOG4J_CONFIG
from devstack.maven import DEPENDENCY_PLUGIN
from devstack.podman import image_exists, image_size, podman, podman_env
from devstack.profiles import REPO_ROOT
from devstack.toolchain import CacheEntry, StepFailed, announce, build_once, cache_root, run_step
from devstack.toolchain.catalog import CACHED_TOOLS, DOCS_ASSETS_VERSION, UV_VERSION

__all__ = ["Image", "build_all", "catalogue", "helm_values", "main", "refs", "revision", "save"]

IMAGES_DIR = REPO_ROOT / "deploy" / "images"
POSTGRES_MAJOR = "15"
NGINX_VERSION = "1.22"  # Debian bookworm's nginx-light
SMTP_SINK_VERSION = "1.4"  # Debian bookworm's python3-aiosmtpd, under devstack's smtp_sink.py
LOAD_GENERATOR_DIR = "libs/devstack"
SERVICES = tuple(
    sorted(p.name for p in (REPO_ROOT / "services").iterdir() if (p / "pyproject.toml").is_file())
)
_DEBIAN = "deb http://deb.debian.org/debian"
# The base root filesystem: its fingerprint is this command line, so changing it rebuilds.
# Merged /usr without the usrmerge package (which would pull in perl); apt settings kept in the
# image, so every layer that runs apt-get on it gets them too: no Recommends, no binary package
# caches (~80 MB a layer otherwise), downloaded .debs deleted (set after the bootstrap, which
# needs them); no docs, man pages or translations (copyright files stay).
_BOOTSTRAP = (
    "mmdebstrap", "--variant=minbase", "--include=ca-certificates",
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    "--aptopt=APT::Install-Recommends \"false\"",
    "--customize-hook=printf '%s\\n' 'Dir::Cache::pkgcache \"\";' 'Dir::Cache::srcpkgcache \"\";'"
    " 'APT::Keep-Downloaded-Packages \"false\";' > \"$1/etc/apt/apt.conf.d/90flotilla-slim\"",
    # Made during the bootstrap; with the settings above, apt's clean no longer knows them.
    "--customize-hook=rm -f \"$1\"/var/cache/apt/*.bin",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "bookworm", "{target}",
    f"{_DEBIAN} bookworm main", f"{_DEBIAN} bookworm-updates main",
    f"{_DEBIAN}-security bookworm-security main",
)  # fmt: skip
# The host's CA bundle, with the certificates the TLS-re-signing proxy to PyPI needs.
_CA_BUNDLE = os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
_IMPORT_CHANGES = ("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]')  # fmt: skip


@dataclass(frozen=True)
class Image:
    """One image the charts reference: `flotilla/<name>:<version>-<revision>`."""

    name: str
    version: str
    service: bool = False
    package_dir: str = ""
    """The workspace package built by the Dockerfile's `load-generator` stage ("" otherwise)."""

    @property
    def repository(self) -> str:
        return f"flotilla/{self.name}"

    def ref(self, rev: str) -> str:
        return f"{self.repository}:{self.version}-{rev}"


def catalogue() -> list[Image]:
    services = [Image(name, _pyproject_version(name), service=True) for name in SERVICES]
    return [
        *services,
        Image("gateway", NGINX_VERSION),
        Image("postgres", POSTGRES_MAJOR),
        Image("kafka", KAFKA_VERSION),
        Image("smtp-sink", SMTP_SINK_VERSION),
        Image("load-generator", _package_version(LOAD_GENERATOR_DIR), package_dir="libs/devstack"),
    ]


def revision() -> str:
    """The git short sha, with `-dirty` when the tree has uncommitted changes."""
    sha = _git("rev-parse", "--short=7", "HEAD").strip()
    return f"{sha}-dirty" if _git("status", "--porcelain").strip() else sha


def refs(rev: str | None = None) -> list[str]:
    rev = rev or revision()
    return [image.ref(rev) for image in catalogue()]


def helm_values(rev: str | None = None) -> dict[str, str]:
    """The umbrella chart's values that select these images (for `--set`)."""
    rev = rev or revision()
    values: dict[str, str] = {}
    by_name = {image.name: image for image in catalogue()}
    for name in SERVICES:
        values[f"{name}.image.repository"] = by_name[name].repository
        values[f"{name}.image.tag"] = f"{by_name[name].version}-{rev}"
    for name in ("gateway", "postgres", "kafka"):
        values[f"devInfra.{name}.image"] = by_name[name].ref(rev)
    values["devInfra.smtpSink.image"] = by_name["smtp-sink"].ref(rev)
    values["topics.job.image"] = by_name["kafka"].ref(rev)  # kafka-topics.sh
    values["loadGenerator.image"] = by_name["load-generator"].ref(rev)
    return values


def save(archive: Path, rev: str | None = None) -> Path:
    """Every image of this tree in one docker-archive (`ctr -n k8s.io images import <it>`)."""
    names = [f"docker.io/{ref}" for ref in refs(rev)]
    missing = [name for name in names if not image_exists(name)]
    if missing:
        raise SystemExit(f"not built (run `make images`): {' '.join(missing)}")
    archive.parent.mkdir(parents=True, exist_ok=True)
    podman("save", "--format", "docker-archive", "-m", "-o", str(archive), *names)
    return archive


def build_all() -> list[str]:
    """Build every image of this tree; print each one's size; return the podman names."""
    started = time.monotonic()
    rev = revision()
    commit_time = _git("log", "-1", "--format=%ct").strip()
    debian = _debian_base()
    python_ref = f"localhost/flotilla-build/python:3.11-{debian.rsplit(':', 1)[1]}"
    python = _build(IMAGES_DIR / "python", python_ref, "~20 s cold", base=debian)
    uv = _uv_image()
    docs_assets = _docs_assets_image()
    built = []
    for image in catalogue():
        name = f"docker.io/{image.ref(rev)}"
        built.append(name)
        if not rev.endswith("-dirty") and image_exists(name):
            announce(f"{name} exists: a clean tree's tags are immutable, kept")
            continue
        labels = [
            f"--label=org.opencontainers.image.version={image.version}-{rev}",
            f"--label=org.opencontainers.image.revision={rev}",
            f"--timestamp={commit_time}",  # same commit, same layers: same id (not on bases)
        ]
        if image.service or image.package_dir:
            args = [
                "-f", str(REPO_ROOT / "Dockerfile"),
                f"--build-arg=PYTHON_IMAGE={python}",
                f"--build-arg=UV_IMAGE={uv}",
                f"--build-arg=DOCS_ASSETS_IMAGE={docs_assets}",
                f"--secret=id=ca_bundle,src={_CA_BUNDLE}",
            ]  # fmt: skip
            if image.service:
                args += [f"--build-arg=SERVICE={image.name}", "--target=service"]
            else:
                args += [
                    f"--build-arg=SERVICE={Path(image.package_dir).name}",
                    f"--build-arg=PACKAGE_DIR={image.package_dir}",
                    "--target=load-generator",
                ]
            _build(REPO_ROOT, name, "~35 s cold, ~10 s warm", extra=[*args, *labels])
        elif image.name == "kafka":
            with _kafka_context() as context:
                _build(context, name, "~30 s cold", base=debian, extra=labels)
        elif image.name == "smtp-sink":
            with _smtp_sink_context() as context:
                _build(context, name, "~30 s cold", base=debian, extra=labels)
        else:
            _build(IMAGES_DIR / image.name, name, "~30 s cold", base=debian, extra=labels)
    print(f"\nimages of revision {rev}, built in {time.monotonic() - started:.0f}s:")
    for name in built:
        print(f"  {name.removeprefix('docker.io/'):<44} {image_size(name) / 1e6:7.1f} MB")
    return built


def _step(argv: Sequence[str], what: str, estimate: str) -> None:
    """A long step under `nice` (the machine is shared), with a start line and heartbeats."""
    try:
        run_step(["nice", "-n", "10", *argv], what=what, estimate=estimate, env=podman_env())
    except StepFailed as error:
        raise SystemExit(f"make images: {error}") from None


def _build(
    context: Path, tag: str, estimate: str, *, base: str = "", extra: Sequence[str] = ()
) -> str:
    argv = ["podman", "build", "--pull=never", "--layers", "--network=host", "-t", tag]
    if base:
        argv.append(f"--build-arg=BASE_IMAGE={base}")
    _step([*argv, *extra, str(context)], f"building {tag}", estimate)
    return tag


def _debian_base() -> str:
    """Debian bookworm minbase from mmdebstrap, cached as a tarball, imported into podman."""
    fingerprint = hashlib.sha256(json.dumps(_BOOTSTRAP).encode()).hexdigest()[:12]
    ref = f"localhost/flotilla-build/debian:bookworm-{fingerprint}"
    if image_exists(ref):
        return ref

    def bootstrap(folder: Path) -> None:
        argv = [arg.replace("{target}", str(folder / "rootfs.tar")) for arg in _BOOTSTRAP]
        _step(argv, "bootstrapping Debian bookworm with mmdebstrap", "about 1-2 min")

    entry = CacheEntry("images", "debian-bookworm", fingerprint).path
    build_once(entry, fingerprint, bootstrap)
    announce(f"importing {ref}")
    changes = [f"--change={change}" for change in _IMPORT_CHANGES]
    podman("import", *changes, str(entry / "rootfs.tar"), ref)
    return ref


def _uv_image() -> str:
    """uv and uvx from uv's PyPI wheel (the tool cache's uv entry), in a FROM-scratch image."""
    ref = f"localhost/flotilla-build/uv:{UV_VERSION}"
    uv = CACHED_TOOLS["uv"].locate()
    if uv is None:
        raise SystemExit("make images: uv is not in the tool cache (make setup installs it)")
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        context = Path(tmp)
        shutil.copy2(IMAGES_DIR / "uv" / "Containerfile", context / "Containerfile")
        for tool in ("uv", "uvx"):
            shutil.copy2(uv.with_name(tool), context / tool)
        return _build(context, ref, "seconds")


def _docs_assets_image() -> str:
    """Swagger UI's and ReDoc's files (the tool cache's `docs-assets` entry, the same files the
    local stack serves) in a FROM-scratch image: the Dockerfile's DOCS_ASSETS_IMAGE."""
    ref = f"localhost/flotilla-build/docs-assets:{DOCS_ASSETS_VERSION}"
    if image_exists(ref):
        return ref
    entry = CACHED_TOOLS["docs-assets"].locate()
    if entry is None:
        raise SystemExit("make images: the docs-assets files are not in the tool cache")
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(IMAGES_DIR / "docs-assets", context)
        for folder in ("swagger-ui", "redoc"):
            shutil.copytree(entry / folder, context / folder)
        return _build(context, ref, "seconds")


@contextlib.contextmanager
def _kafka_context() -> Iterator[Path]:
    """A build context: the recipe, the log4j config, and the jars resolved by Maven."""
    pom = IMAGES_DIR / "kafka" / "pom.xml"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]

    def resolve(folder: Path) -> None:
        goal = f"{DEPENDENCY_PLUGIN}:copy-dependencies"
        argv = ["mvn", "-q", "-B", "-f", str(pom), goal, f"-DoutputDirectory={folder / 'lib'}"]
        what = f"fetching Kafka {KAFKA_VERSION}'s jars from Maven Central"
        _step([*argv, "-DincludeScope=runtime"], what, "about 30 s the first time")

    jars = CacheEntry("maven", "kafka-image", f"{KAFKA_VERSION}-{digest}").path
    build_once(jars, digest, resolve)
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(IMAGES_DIR / "kafka", context)
        shutil.copytree(jars / "lib", context / "lib", copy_function=os.link)
        shutil.copy2(LOG4J_CONFIG, context / "log4j2.properties")
        yield context


@contextlib.contextmanager
def _smtp_sink_context() -> Iterator[Path]:
    """A build context: the recipe and devstack's SMTP sink, a single file."""
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(IMAGES_DIR / "smtp-sink", context)
        shutil.copy2(Path(__file__).with_name("smtp_sink.py"), context / "smtp_sink.py")
        yield context


def _pyproject_version(service: str) -> str:
    return _package_version(f"services/{service}")


def _package_version(folder: str) -> str:
    data = tomllib.loads((REPO_ROOT / folder / "pyproject.toml").read_text())
    return str(data["project"]["version"])


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.images",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build every image (make images)")
    listing = commands.add_parser("list", help="print this tree's image refs")
    helm_set = commands.add_parser("helm-set", help="print --set arguments selecting them")
    saving = commands.add_parser("save", help="write every image into one docker-archive")
    saving.add_argument("archive", type=Path)
    for command in (listing, helm_set, saving):
        command.add_argument("--revision", help="another commit's images (default: this tree)")
    args = parser.parse_args(argv)
    if args.command == "build":
        build_all()
    elif args.command == "list":
        print("\n".join(refs(args.revision)))
    elif args.command == "helm-set":
        print(" ".join(f"--set {k}={v}" for k, v in helm_values(args.revision).items()))
    else:
        print(save(args.archive, args.revision))
    return 0


if __name__ == "__main__":
    sys.exit(main())
