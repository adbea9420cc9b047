"""Container images written as OCI archives by hand and imported into the cluster's containerd.

No registry is reachable from here, so the two images the cluster itself needs are made from
static binaries: the sandbox's pause image (the `sandbox_image` containerd runs for every pod)
and a busybox image the smoke tests use (httpd, wget, nslookup). An OCI archive is a tar of
`oci-layout`, `index.json` and content-addressed blobs — the format `podman save --format
oci-archive` writes and `ctr images import` reads — so no image tool is needed to make one.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.cluster.layout import Layout

__all__ = ["BUSYBOX_IMAGE", "PAUSE_IMAGE", "StaticImage", "import_archive", "write_archive"]

PAUSE_IMAGE = "flotilla.local/pause:3.10.2"
BUSYBOX_IMAGE = "flotilla.local/busybox:1"


@dataclass(frozen=True)
class StaticImage:
    """One layer of files (`path in image -> file on the host`) and how to run it."""

    name: str
    files: dict[str, Path]
    entrypoint: Sequence[str]
    user: str = "65535:65535"


def write_archive(image: StaticImage, out: Path) -> Path:
    layer = _layer(image.files)
    layer_digest = _sha(layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": list(image.entrypoint), "User": image.user},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": _descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [_descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
        },
        sort_keys=True,
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                **_descriptor("application/vnd.oci.image.manifest.v1+json", manifest),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {
                    "io.containerd.image.name": image.name,
                    "org.opencontainers.image.ref.name": image.name.rsplit(":", 1)[1],
                },
            }
        ],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as archive:
        _add(archive, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        _add(archive, "index.json", json.dumps(index).encode())
        for blob in (layer, config, manifest):
            _add(archive, f"blobs/sha256/{_sha(blob).split(':')[1]}", blob)
    return out


def import_archive(lay: Layout, archive: Path) -> None:
    """Load an OCI or docker archive (also `podman save` output) into the CRI namespace."""
    result = subprocess.run(
        [
            "ctr", "--address", str(lay.containerd_socket), "-n", "k8s.io", "images", "import",
            "--snapshotter", "overlayfs", str(archive),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"ctr images import {archive} failed: {result.stderr.strip()}")


def _layer(files: dict[str, Path]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as layer:
        for inside, host in sorted(files.items()):
            parts = inside.strip("/").split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if folder not in layer.getnames():
                    info = tarfile.TarInfo(folder)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    layer.addfile(info)
            data = host.read_bytes()
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mode = len(data), 0o755
            layer.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _descriptor(media_type: str, blob: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": _sha(blob), "size": len(blob)}


def _sha(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    archive.addfile(info, io.BytesIO(data))
