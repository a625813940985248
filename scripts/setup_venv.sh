#!/usr/bin/env bash
# Create .venv at the repository root and install aiida-hydrides (editable) with a working deepmd-kit.
#
# deepmd-kit 3.2.0's PyPI wheel is compiled against torch 2.11 and does not load with the CPU build of torch 2.13
# used here; we therefore build deepmd-kit 3.2.0 from its source distribution against the installed torch
# (PyTorch backend only, custom operators enabled). Idempotent: each step is skipped when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
PIP="$VENV/bin/python -m pip"
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
DEEPMD_VERSION=3.2.0

if [ ! -x "$VENV/bin/python" ]; then
    echo "venv: creating $VENV with $($PYTHON --version)"
    $PYTHON -m venv "$VENV"
    $PIP install -q --upgrade pip setuptools wheel
fi

if ! $VENV/bin/python -c "import torch, sys; sys.exit(not torch.__version__.startswith('$TORCH_VERSION'))" 2>/dev/null; then
    echo "venv: installing torch $TORCH_VERSION (CPU)"
    $PIP install -q "torch==$TORCH_VERSION"
fi

deepmd_ok() {
    $VENV/bin/python - <<PY 2>/dev/null
import importlib.metadata as md, sys
sys.exit(0 if md.version('deepmd-kit') == '$DEEPMD_VERSION' and __import__('deepmd.pt.model') else 1)
PY
}

if ! deepmd_ok; then
    echo "venv: building deepmd-kit $DEEPMD_VERSION from source against torch $TORCH_VERSION (about 2 minutes)"
    $PIP install -q scikit-build-core setuptools_scm hatch-fancy-pypi-readme packaging dependency_groups \
        cmake ninja e3nn
    DP_ENABLE_TENSORFLOW=0 DP_ENABLE_PYTORCH=1 CMAKE_ARGS="-DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON" \
        $PIP install -q --no-build-isolation --no-binary deepmd-kit "deepmd-kit==$DEEPMD_VERSION"
fi

stamp="$VENV/.aiida-hydrides-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "venv: installing aiida-hydrides (editable, with the dev extra)"
    $PIP install -q -e ".[dev]"
    touch "$stamp"
fi
$VENV/bin/python -c "import aiida_hydrides, deepmd.pt.model, aiida; print('venv: ok (aiida-core', aiida.__version__ + ')')"
