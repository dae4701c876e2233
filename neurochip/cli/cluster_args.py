"""The Dask options shared by `sweep` and `campaign`."""

from __future__ import annotations

import argparse
import os


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (`dask scheduler` "
                        "and `dask worker ADDRESS` on each machine); default: a local cluster")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local cluster of N worker processes (default: the CPU count, at "
                        "most 4); 0 runs in this process without Dask")


def workers_of(args: argparse.Namespace) -> int:
    """--workers, or the default: one per CPU, at most 4."""
    return max(1, min(4, os.cpu_count() or 1)) if args.workers is None else args.workers
