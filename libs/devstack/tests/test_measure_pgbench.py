"""pgbench as a benchmark's baseline: the command it is given, and what is read from its
report and per-transaction log. A run that lost a transaction gives no figure at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.measure.pgbench import (
    PgbenchError,
    PgbenchTarget,
    command,
    parse_latencies,
    parse_summary,
)

pytestmark = pytest.mark.unit

TARGET = PgbenchTarget("127.0.0.1", 25442, "bench_http", "secret", "bench_http")

# As pgbench 15 prints it.
REPORT = """pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: script.sql
scaling factor: 1
query mode: prepared
number of clients: 16
number of threads: 2
maximum number of tries: 1
number of transactions per client: 38
number of transactions actually processed: 608/608
number of failed transactions: 0 (0.000%)
latency average = 6.087 ms
initial connection time = 71.318 ms
tps = 2628.563541 (without initial connection time)
"""


def _argv(*, clients: int, transactions: int, jobs: int | None = 2) -> list[str]:
    return command(
        Path("/usr/lib/postgresql/15/bin/pgbench"),
        TARGET,
        Path("/work/script.sql"),
        clients=clients,
        transactions=transactions,
        log_prefix=Path("/work/log"),
        jobs=jobs,
    )


def test_the_command_runs_the_script_prepared_without_vacuum_or_password_on_the_line() -> None:
    argv = _argv(clients=16, transactions=600)
    assert argv[0] == "/usr/lib/postgresql/15/bin/pgbench"
    assert argv[-1] == "bench_http"
    assert {
        "--host=127.0.0.1",
        "--port=25442",
        "--username=bench_http",
        "--no-vacuum",
        "--protocol=prepared",
        "--client=16",
        "--jobs=2",
        "--transactions=38",  # 600 over 16 clients, rounded up
        "--file=/work/script.sql",
        "--log",
        "--log-prefix=/work/log",
    } <= set(argv)
    assert not any("secret" in arg for arg in argv)


def test_the_clients_are_spread_evenly_over_the_threads() -> None:
    assert "--jobs=1" in _argv(clients=3, transactions=3, jobs=2)


def test_a_run_needs_clients_and_transactions() -> None:
    with pytest.raises(ValueError, match="positive"):
        _argv(clients=0, transactions=1)


def test_the_summary_gives_the_transactions_and_the_rate_without_connection_time() -> None:
    assert parse_summary(REPORT) == (608, 2628.563541)


def test_a_run_with_failed_transactions_gives_no_figure() -> None:
    failed = REPORT.replace("608/608", "600/608").replace(
        "failed transactions: 0 (0.000%)", "failed transactions: 8 (1.316%)"
    )
    with pytest.raises(PgbenchError, match="did not complete every transaction"):
        parse_summary(failed)


def test_output_without_a_summary_is_an_error_that_shows_it() -> None:
    with pytest.raises(PgbenchError, match=r"connection to server .* failed"):
        parse_summary('pgbench: error: connection to server at "127.0.0.1" failed\n')


def test_latencies_are_read_in_seconds_and_failed_transactions_left_out() -> None:
    log = [
        "0 1 2179 0 1796444263 665426",
        "1 1 1043 0 1796444263 665693",
        "2 1 failed 0 1796444263 665811",
        "",
    ]
    assert parse_latencies(log) == [0.002179, 0.001043]
