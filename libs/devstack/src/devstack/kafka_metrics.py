"""The local broker's metrics: the Prometheus JMX exporter as a Java agent inside the broker.

The agent jar comes from Maven Central into the git-ignored cache
(`<cache_dir>/jmx-exporter-<version>/`, see `devstack.maven`), and the broker starts with
`-javaagent:<jar>=127.0.0.1:<port>:<config>`: the agent serves `/metrics` on loopback,
translating the broker's JMX MBeans with the rules in `deploy/observability/kafka/jmx-exporter.yaml`
(the series names the Strimzi examples use, e.g. `kafka_server_brokertopicmetrics_messagesin_total`)
and adding the JVM's own (`jvm_memory_used_bytes`, `jvm_gc_collection_seconds`).
"""

from __future__ import annotations

from pathlib import Path

from devstack.maven import DEPENDENCY_PLUGIN, fetch_once, run_maven
from devstack.profiles import REPO_ROOT

__all__ = ["EXPORTER_CONFIG", "JMX_EXPORTER_VERSION", "agent_jar", "javaagent_option"]

# The newest 1.x on Maven Central: from 1.1.0 on, the agent jar ships through GitHub Releases
# only (Maven Central gets the `collector` library), and this machine reaches Maven alone.
JMX_EXPORTER_VERSION = "1.0.1"
_ARTIFACT = f"io.prometheus.jmx:jmx_prometheus_javaagent:{JMX_EXPORTER_VERSION}"
_JAR = f"jmx_prometheus_javaagent-{JMX_EXPORTER_VERSION}.jar"
EXPORTER_CONFIG = REPO_ROOT / "deploy" / "observability" / "kafka" / "jmx-exporter.yaml"


def agent_jar(cache_dir: Path) -> Path:
    """The agent jar, fetched once into `cache_dir`."""
    folder = cache_dir / f"jmx-exporter-{JMX_EXPORTER_VERSION}"

    def fetch(out_dir: Path) -> None:
        run_maven(
            [
                f"{DEPENDENCY_PLUGIN}:copy",
                f"-Dartifact={_ARTIFACT}",
                f"-DoutputDirectory={out_dir}",
            ],
            f"the JMX exporter agent {JMX_EXPORTER_VERSION}",
            expect=(out_dir / _JAR).is_file,
        )

    return fetch_once(folder, _ARTIFACT, fetch) / _JAR


def javaagent_option(cache_dir: Path, host: str, port: int) -> str:
    """The JVM option that makes the broker serve its metrics on `http://host:port/metrics`.

    The agent binds in `premain`, before the broker's `main`: a port already taken makes the
    JVM exit at once, which the broker's start reports with its log.
    """
    return f"-javaagent:{agent_jar(cache_dir)}={host}:{port}:{EXPORTER_CONFIG}"
