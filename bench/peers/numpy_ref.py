"""The plain NumPy reference of neurochip (``neurochip.golden.reference``): the
time-stepped functional model plus, by default, its cycle-by-cycle timing model."""

from __future__ import annotations

import numpy as np

from bench.measure import memory_report, peak_rss_mib, repeat
from bench.peers.common import load_batch, out_path
from bench.protocol import Job, RowMeasurement, TaskResult


def run(job: Job) -> TaskResult:
    from neurochip.description import load
    from neurochip.golden.reference import run_batch

    desc = load(job.model_path)
    batch = load_batch(job)
    timing = bool(job.options.get("timing", True))
    rss_before = peak_rss_mib()
    seconds, out = repeat(lambda: run_batch(desc, batch.spikes, timing=timing), job.reps)
    path = out_path(job, "numpy_ref")
    out.save(path)
    what = "functional + cycle model" if timing else "functional only"
    row = RowMeasurement(
        row=f"NumPy reference ({what})", kind="numpy_ref", images=batch.n, seconds=seconds,
        outputs=str(path),
        notes=["neurochip.golden.reference.run_batch (run_image per image) on the same encoded spikes"])
    return TaskResult("ok", rows=[row], memory=memory_report(rss_before),
                      versions={"numpy": np.__version__})
