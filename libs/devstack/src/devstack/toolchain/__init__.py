"""The tools Flotilla's make targets run: a catalogue, a cache outside the clone, installs with
progress, and `make doctor`. Standard library only (it runs before the virtualenv exists)."""

from devstack.toolchain.cache import CacheEntry, build_once, cache_root, entry_problem, go_env
from devstack.toolchain.progress import StepFailed, announce, run_step

__all__ = [
    "CacheEntry",
    "StepFailed",
    "announce",
    "build_once",
    "cache_root",
    "entry_problem",
    "go_env",
    "run_step",
]
