"""Issue 28: the seeded fuzz suite over model files, NIR graphs, IDX folders and CLI
misuse (tests/fuzz.py). Every case runs in a worker subprocess under RLIMIT_AS with a
per-case alarm; the suite passes when no case is a traceback, hang, memory blow-up,
crash, silent accept of documented-invalid input, or a failure without its error line.
A slice runs in CI; the full 840 cases (with the multi-GB model files) are marked slow."""

from __future__ import annotations

import pytest

import fuzz


def _run(tmp_path, per_surface: int, heavy: bool, capsys):
    cases = fuzz.make_cases(tmp_path, seed=0, per_surface=per_surface, heavy=heavy)
    fuzz.run_cases(cases)
    table = fuzz.summary(cases)
    with capsys.disabled():
        print("\n" + fuzz.format_summary(table))
    bad = fuzz.failures(cases)
    assert not bad, "\n".join(bad)
    return table


def test_fuzz_slice(tmp_path, capsys):
    table = _run(tmp_path, per_surface=25, heavy=False, capsys=capsys)
    assert set(table) >= {"model", "idx", "cli"}
    assert sum(row["refusal"] for row in table.values()) > 50  # the slice does refuse


@pytest.mark.slow
def test_fuzz_all(tmp_path, capsys):
    table = _run(tmp_path, per_surface=210, heavy=True, capsys=capsys)
    assert sum(sum(row.values()) for row in table.values()) >= 630


@pytest.mark.parametrize("case, code, err, exc, want", [
    (fuzz.Case("x", [], "refuse", "--jobs"), 2, "neurochip: error: --jobs -4: ...", "", "refusal"),
    (fuzz.Case("x", [], "refuse", "--jobs"), 2, "neurochip: error: data not found", "", "silent"),
    (fuzz.Case("x", [], "refuse"), 0, "", "", "silent"),
    (fuzz.Case("x", [], "any"), 0, "", "", "ran"),
    (fuzz.Case("x", [], "any"), 1, "neurochip: error: no simulator", "", "ran"),
    (fuzz.Case("x", [], "any"), 2, "neurochip train: --t-win 99: use 0..15", "", "unclear"),
    (fuzz.Case("x", [], "any"), None, "", "traceback", "traceback"),
    (fuzz.Case("x", [], "any"), 2, "Traceback (most recent call last):\nerror: x", "",
     "traceback"),
    (fuzz.Case("x", [], "any"), None, "", "hang", "hang"),
    (fuzz.Case("x", [], "any"), None, "", "memory", "memory"),
    (fuzz.Case("x", [], "any"), 1, "neurochip: error: out of memory; ...", "", "memory"),
])
def test_the_classifier(case, code, err, exc, want):
    assert fuzz.classify(case, code, err, exc) == want


def test_a_blow_up_fails_the_case_not_the_machine():
    """A worker that cannot stay within its address space is a finding (here the cap is
    too small even to import NumPy), and the next case still runs."""
    cases = [fuzz.Case("cli-0", ["inspect", "x"]), fuzz.Case("cli-1", ["inspect", "y"])]
    fuzz.run_cases(cases, timeout_s=30, cap=48 << 20)
    assert [c.result["class"] for c in cases] == ["crash", "crash"]
