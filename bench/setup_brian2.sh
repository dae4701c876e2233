#!/usr/bin/env bash
# Brian2 for the benchmark, in its own environment.
#
# Brian2 2.9.0 (the latest release) does not import with NumPy >= 2.4, which neurochip's
# environment has (Quantity wraps np.ndarray.ptp, removed in NumPy 2.4; fixed upstream in
# brian-team/brian2#1705, not yet released). This makes bench/.cache/brian2-venv with
# NumPy < 2.4; `make bench` uses it automatically when brian2 fails to import in the main
# interpreter. The Brian2 task needs only NumPy and Brian2 (not neurochip): the harness
# hands it the integer network and the encoded spikes in a .npz.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -m venv bench/.cache/brian2-venv
bench/.cache/brian2-venv/bin/python -m pip install --quiet "numpy<2.4" "brian2>=2.9" "cython>=3"
bench/.cache/brian2-venv/bin/python -c "import brian2, numpy; print('brian2', brian2.__version__, 'numpy', numpy.__version__)"
