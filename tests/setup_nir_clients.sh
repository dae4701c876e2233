#!/usr/bin/env bash
# Norse and Sinabs, the real NIR clients of tests/test_nir.py, in the test environment.
#
# Both pin what this project cannot take: Norse 1.1.0 asks for a torchvision that replaces
# torch 2.13.0 (and fails to import beside it), Sinabs 3.1.3 for nir <= 1.0.4 and for
# SynSense's samna. The NIR tests need neither torchvision nor samna, and Sinabs' own NIR
# code works with nir 1.0.8 (checked by those tests), so both are installed without their
# dependencies, beside the pinned torch; pbr is what Sinabs reads its version with.
# In CI (CI=true) the two tests then fail, rather than skip, if either client is missing.
set -euo pipefail
PY="${PYTHON:-python}"
# (Norse ships an sdist only: pip builds it, with setuptools-scm reading its version)
"$PY" -m pip install --quiet --no-deps "norse==1.1.0" "sinabs==3.1.3" "pbr>=6"
"$PY" -c "import norse.torch, sinabs; print('nir clients: norse and sinabs import')"
