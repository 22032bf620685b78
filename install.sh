#!/usr/bin/env bash
# Installs trainprint into the current Python environment (activate a venv first if you want one).
# torch: a torch that is already importable is kept (GPU machines ship their own CUDA build);
# otherwise torch==2.13.0 is installed, which on the reference machine is the local CPU build.
# Usage: bash install.sh [--dev]   (--dev adds pytest, scikit-image, faiss-cpu, ray[data], pydicom and nibabel)
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
if "$PY" -c "import torch" 2>/dev/null; then
    echo "install.sh: keeping torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
    "$PY" -m pip install --quiet "torch==2.13.0"
fi
extra=""
# --dev: the test tools and the optional engines and readers the tests exercise (FAISS search, a local Ray
# cluster, DICOM and NIfTI)
if [ "${1:-}" = "--dev" ]; then extra="[dev,faiss,distributed,medical]"; fi
"$PY" -m pip install --quiet -e ".${extra}"
echo "install.sh: trainprint $("$PY" -m trainprint --version 2>/dev/null || trainprint --version) installed"
