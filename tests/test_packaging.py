"""The wheel carries everything the installed commands read at run time.

An editable install finds files in the source tree, so only a built wheel shows whether
`neurochip verify`, `rtl`, `simulate` and the energy model work for a user who installed
from an index.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from neurochip.verify import runner

REPO = Path(__file__).resolve().parents[1]

RUNTIME_FILES = [
    "neurochip/verify/testbench/tb_neurochip.v",
    "neurochip/verify/testbench/test_neurochip.py",
    "neurochip/hw/lint_waivers.vlt",
    "neurochip/data/tech_40nm.json",
]


def test_runner_uses_the_packaged_testbench() -> None:
    assert runner.TB_FILE.is_file()
    assert (runner.SIM_DIR / f"{runner.TEST_MODULE}.py").is_file()
    assert runner.SIM_DIR.parent == Path(runner.__file__).resolve().parent


def test_sim_folder_is_the_packaged_testbench() -> None:
    assert (REPO / "sim").resolve() == runner.SIM_DIR


@pytest.mark.slow
def test_wheel_contains_runtime_files(tmp_path: Path) -> None:
    # Built from a copy: an in-tree build would leave build/ in the checkout.
    src = tmp_path / "src"
    shutil.copytree(REPO / "neurochip", src / "neurochip",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    out = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    wheels = list(out.glob("neurochip-*.whl"))
    assert len(wheels) == 1, wheels
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    missing = [f for f in RUNTIME_FILES if f not in names]
    assert not missing, f"wheel lacks {missing}"
    data = [n for n in names if n.startswith("neurochip/data/") and n.endswith(".gz")]
    assert data, "wheel lacks the shipped MNIST sample (neurochip/data/*.gz)"
