#!/usr/bin/env bash
# Regenerate requirements.lock: every transitive dependency of the project, its `test` and
# `lint` extras, pinned with ==, resolved by pip (pip-tools' pip-compile) for Python 3.11.
#   bash tools/lock.sh             keep the current pins, add/drop what pyproject.toml changed
#   bash tools/lock.sh --upgrade   newest releases that pyproject.toml allows
# Extra arguments go to pip-compile (e.g. --upgrade-package numpy).
# pip-compile runs in a throwaway venv; the pins of the packages that environment.yml lists
# are then copied from the lock into it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "pip-tools==7.6.2"
CUSTOM_COMPILE_COMMAND="bash tools/lock.sh" "$venv/bin/pip-compile" --quiet \
  --extra test --extra lint --strip-extras --allow-unsafe \
  --no-emit-index-url --no-emit-find-links \
  -o requirements.lock "$@" pyproject.toml
# torch: pip resolves `torch==2.13.0` to the CPU wheel (2.13.0+cpu, whose only dependencies are
# filelock, fsspec, jinja2, networkx, setuptools, sympy, typing-extensions). Write the pin as
# pyproject.toml has it; a resolution that pulled CUDA packages is an error.
sed -i -e 's/^torch==2\.13\.0+cpu$/torch==2.13.0/' \
  -e '/^torch==2\.13\.0$/a\    # the CPU wheel (2.13.0+cpu); with a GPU, replace this line: see README' requirements.lock
grep -qx 'torch==2.13.0' requirements.lock || { echo "lock: expected the line torch==2.13.0" >&2; exit 1; }
if grep -Eq '^(nvidia-|triton==|cuda-)' requirements.lock; then
  echo "lock: CUDA packages resolved (torch was not the 2.13.0 CPU wheel):" >&2
  grep -E '^(nvidia-|triton==|cuda-)' requirements.lock >&2
  exit 1
fi
# environment.yml lists some packages with == pins in its pip section: keep them equal to the lock
python3 - <<'PY'
import re
from pathlib import Path

norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
lock = dict(
    (norm(m[1]), m[2])
    for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$", Path("requirements.lock").read_text(), re.M)
)
env = Path("environment.yml")
text = env.read_text()
pin = re.compile(r"^(\s+- )([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$", re.M)
missing = [m[2] for m in pin.finditer(text) if norm(m[2]) not in lock]
if missing:
    raise SystemExit(f"lock: environment.yml pins packages the lock lacks: {missing}")
env.write_text(pin.sub(lambda m: f"{m[1]}{m[2]}=={lock[norm(m[2])]}", text))
PY
echo "wrote requirements.lock ($(grep -c '==' requirements.lock) pins); environment.yml pins synced"
