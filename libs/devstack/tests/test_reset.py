"""`devstack reset`: a stopped stack's data goes, wherever it lives; its logs stay."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from devstack.process import free_port
from devstack.profiles import Profile
from devstack.reset import reset
from devstack.stack import Stack


@dataclass(frozen=True)
class _TmpProfile(Profile):
    base: Path = Path("/nonexistent")

    @property
    def root(self) -> Path:
        return self.base / self.name


def test_reset_deletes_the_data_and_every_server_folder_and_keeps_the_logs(
    tmp_path: Path,
) -> None:
    stack_profile = _TmpProfile(
        name=f"reset-{secrets.token_hex(4)}",
        postgres_port=free_port(),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        gateway_port=free_port(),
        first_service_port=free_port(),
        smtp_port=free_port(),
        base=tmp_path,
    )
    kept_log = stack_profile.logs / "postgres.log"
    kept_log.parent.mkdir(parents=True)
    kept_log.write_text("why we reset\n")
    data = stack_profile.root / "kafka" / "meta.properties"
    data.parent.mkdir(parents=True)
    data.write_text("cluster.id=x\n")
    postgres_file = stack_profile.server_dir("postgres") / "PG_VERSION"
    scratch_file = stack_profile.server_dir("scratch") / "outage-1" / "data" / "PG_VERSION"
    for server_file in (postgres_file, scratch_file):
        server_file.parent.mkdir(parents=True)
        server_file.write_text("15\n")

    deleted = reset(Stack(stack_profile), progress=lambda line: None)

    assert kept_log.read_text() == "why we reset\n"
    assert not data.exists()
    assert stack_profile.root / "kafka" in deleted
    assert not postgres_file.exists()
    assert not scratch_file.exists()
    # As root the server folders live outside the clone; nothing of this profile is left there.
    server_folders = stack_profile.server_dir("postgres").parent
    assert server_folders == stack_profile.root or not server_folders.exists()
