"""`devstack reset`: stop a stack and delete its data, for a fresh start.

`down` keeps data (Postgres, Kafka's log, the mail folder, generated secrets) so the next `up`
carries on; `reset` deletes all of it, including the Postgres folder that root keeps outside the
clone (`Profile.server_dir`). The logs stay, so the reason for a reset can still be read.
`make test` resets its stack at the end: each run starts from nothing and no data outlives it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from devstack.profiles import SERVER_STATE
from devstack.stack import Progress, Stack

__all__ = ["reset"]


def reset(stack: Stack, progress: Progress) -> list[Path]:
    """Stop `stack`, delete its data and return the folders deleted."""
    stack.down(progress=progress)
    profile = stack.profile
    deleted: list[Path] = []
    # As root, the servers' folders (Postgres, and the tests' scratch clusters) live together
    # outside the clone, in one folder per checkout and profile: all of it goes.
    server_folders = profile.server_dir("postgres").parent
    if server_folders != profile.root and server_folders.exists():
        shutil.rmtree(server_folders)
        deleted.append(server_folders)
        _remove_empty_parents(server_folders.parent)
    if profile.root.exists():
        for entry in profile.root.iterdir():
            if entry == profile.logs:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            deleted.append(entry)
    return deleted


def _remove_empty_parents(folder: Path) -> None:
    """Drop the checkout's and profile's folders under SERVER_STATE once they are empty."""
    while folder != SERVER_STATE and SERVER_STATE in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty: another profile of the checkout still has data
            return
        folder = folder.parent
