#!/usr/bin/env bash
# The package as a user gets it: build trainprint's wheel, check what it carries, install it (not
# editable) with its dependencies into a fresh venv (no system site packages, so nothing of the
# editable install or of src/ is seen), and run it from outside the repository.
# Usage: bash .ci/wheel_check.sh   (PYTHON=... to build with another interpreter; needs setuptools >= 77)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
t0=$SECONDS
step() { echo "wheel_check: $* ($((SECONDS - t0)) s)"; }

# 1. the wheel, built with the setuptools already installed (--no-build-isolation: nothing downloaded)
"$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$work/dist" "$repo"
wheel="$(ls "$work"/dist/trainprint-*.whl)"
"$PY" - "$wheel" <<'PYEOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = ["trainprint/py.typed", "trainprint/demo/builtin/demo.json", "trainprint/demo/builtin/generator.pt",
        "trainprint/demo/builtin/test_key.csv", "trainprint/demo/builtin/patients.csv",
        "trainprint/demo/builtin/dev/real_used/real_used_0001.png", "trainprint/demo/builtin/test/generated/generated_0400.png"]
missing = [n for n in need if n not in names]
licence = [n for n in names if n.endswith("/LICENSE") or n.endswith("licenses/LICENSE")]
meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
text = zipfile.ZipFile(sys.argv[1]).read(meta).decode()
assert not missing, f"the wheel lacks {missing}"
assert licence, "the wheel carries no LICENSE"
assert "License-Expression: MIT" in text, "METADATA has no License-Expression: MIT"
assert "Requires-Dist: scipy" in text, "METADATA does not require scipy"
print(f"wheel_check: {sys.argv[1].rsplit('/', 1)[-1]}: {len(names)} files, demo data, py.typed, LICENSE, MIT")
PYEOF
step "wheel built"

# 2. a fresh venv: torch first (the tested version; on the reference machine the local CPU build), then the wheel
"$PY" -m venv "$work/venv"
vpy="$work/venv/bin/python"
"$vpy" -m pip install --quiet "torch==2.13.0"
step "torch installed in the venv"
"$vpy" -m pip install --quiet "$wheel"
step "wheel installed with its dependencies"

# 3. run it from outside the repository
cd "$work"
"$work/venv/bin/trainprint" --version
"$work/venv/bin/trainprint" demo --help > "$work/help.txt"
grep -q -- "--regenerate" "$work/help.txt"
"$vpy" - <<'PYEOF'
import trainprint
from trainprint.demo.pipeline import BUILTIN
from trainprint.core.files import read_json
assert "/venv/" in trainprint.__file__, trainprint.__file__
info = read_json(BUILTIN / "demo.json")
print(f"wheel_check: import trainprint {trainprint.__version__} from {trainprint.__file__}; "
      f"shipped demo data: seed {info['seed']}, preset {info['preset']}")
PYEOF
"$work/venv/bin/trainprint" make-demo "$work/smoke-demo" --preset smoke > /dev/null
"$work/venv/bin/trainprint" inspect "$work/smoke-demo" > /dev/null
step "trainprint --version, demo --help, import, make-demo --preset smoke and inspect ran from the venv"

# 4. the Python API example, exactly as docs/api.md (and the README) write it (tests/test_api.py checks
# that the two copies are equal), run by the venv's Python in a folder holding the three folders it
# names: generated/, real/ and non_members/, copied from the demo data the wheel installed (the test
# set's generated and real images, the dev set's not-used images as the known non-members)
"$vpy" - "$repo/docs/api.md" "$work/example.py" <<'PYEOF'
import re, sys
found = re.search(r"```python\n(.*?)```", open(sys.argv[1], encoding="utf-8").read(), re.S)
assert found, f"{sys.argv[1]} has no ```python block"
open(sys.argv[2], "w", encoding="utf-8").write(found.group(1))
PYEOF
mkdir "$work/api"
builtin="$("$vpy" -c 'from trainprint.demo.pipeline import BUILTIN; print(BUILTIN)')"
cp -r "$builtin/test/generated" "$work/api/generated"
cp -r "$builtin/test/real_unknown" "$work/api/real"
cp -r "$builtin/dev/real_not_used" "$work/api/non_members"
(cd "$work/api" && TRAINPRINT_CACHE="$work/cache" "$vpy" "$work/example.py") | tee "$work/example.out"
grep -Eq '^(evidence of membership|no evidence of membership) ' "$work/example.out"
[ "$(ls "$work/api")" = "$(printf 'generated\nnon_members\nreal')" ] || { echo "wheel_check: the example wrote files" >&2; exit 1; }
step "the API example of docs/api.md ran from the venv"
