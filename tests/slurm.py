"""Throwaway SLURM fixture: `slurm_cluster` (one single-node cluster per test session, or per
xdist worker). It skips only where no cluster can run here (no `slurm-wlm`/`munge` packages, not
root). The cluster itself is in tests/slurmcluster.py.
"""

from __future__ import annotations

import pytest
from slurmcluster import NoCluster, throwaway_cluster


@pytest.fixture(scope="session")
def slurm_cluster():
    try:
        with throwaway_cluster() as cluster:
            yield cluster
    except NoCluster as exc:  # raised before anything starts, never from a test
        pytest.skip(f"{exc} to run the SLURM tests")
