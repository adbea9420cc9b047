"""What the contracts' tests share: the topic file, loaded once."""

from __future__ import annotations

import pytest

from contracts.topology import Topology, load_topology


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_topology()
