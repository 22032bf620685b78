#!/usr/bin/env bash
# Installs trainprint into the current Python environment (activate a venv first if you want one).
# torch: trainprint is tested with torch 2.13.0 (CPU) only, and pyproject.toml says torch>=2.13 to match.
# A torch >= 2.13 that is already importable is kept (GPU machines ship their own CUDA build); with none,
# torch==2.13.0 is installed, which on the reference machine is the local CPU build; an older one stops
# here, since pip would otherwise replace it by whatever torch the index serves (a multi-GB CUDA build on
# PyPI). Elsewhere, install a CPU torch first: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
# Usage: bash install.sh [--dev]   (--dev adds pytest, scikit-image, faiss-cpu, ray[data], pydicom and nibabel)
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
TORCH_TESTED="2.13.0"  # the version pyproject.toml's floor (torch>=2.13) names
if have=$("$PY" -c "import torch; print(torch.__version__)" 2>/dev/null); then
    if "$PY" -c "import sys, torch; v = tuple(int(x) for x in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(v < (2, 13))"; then
        echo "install.sh: keeping torch $have"
    else
        echo "error: install.sh: torch $have is older than 2.13, the version trainprint is tested with; upgrade it (pip install torch==$TORCH_TESTED, or your CUDA build) or use a fresh venv" >&2
        exit 2
    fi
else
    "$PY" -m pip install --quiet "torch==$TORCH_TESTED"
fi
extra=""
# --dev: the test tools and the optional engines and readers the tests exercise (FAISS search, a local Ray
# cluster, DICOM and NIfTI)
if [ "${1:-}" = "--dev" ]; then extra="[dev,faiss,distributed,medical]"; fi
"$PY" -m pip install --quiet -e ".${extra}"
echo "install.sh: trainprint $("$PY" -m trainprint --version 2>/dev/null || trainprint --version) installed"
