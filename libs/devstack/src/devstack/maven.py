"""Artifacts from Maven Central, fetched once into the machine's tool cache.

Kafka's runtime classpath (`devstack.kafka`) and the Prometheus JMX exporter agent
(`devstack.kafka_metrics`) both come from Maven Central through `mvn`, into entries of the cache
outside the clone (`devstack.toolchain.cache`: filled in a temporary folder, stamped with a
fingerprint and every file's checksum, renamed into place; a corrupt entry is fetched again; a
lock keeps concurrent callers from fetching twice). The first fetch prints progress.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from devstack.process import ProcessError
from devstack.toolchain import StepFailed, build_once, run_step

__all__ = ["DEPENDENCY_PLUGIN", "fetch_once", "run_maven"]

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

# One name for the cache's "fetch unless complete" in the Maven callers' vocabulary.
fetch_once = build_once


def run_maven(args: Sequence[str], what: str, expect: Callable[[], bool]) -> None:
    """`mvn -q -B <args>`; raise ProcessError naming `what` unless it exits 0 and `expect()`."""
    argv = ["mvn", "-q", "-B", "-Dstyle.color=never", *args]
    try:
        run_step(
            argv,
            what=f"fetching {what} from Maven Central",
            estimate="about 1 min the first time",
            timeout=900,
        )
    except StepFailed as error:
        raise ProcessError(f"Maven could not fetch {what}: {error}") from None
    if not expect():
        raise ProcessError(f"Maven could not fetch {what}: {' '.join(argv)} left nothing")
