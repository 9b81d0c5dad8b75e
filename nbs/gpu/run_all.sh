#!/usr/bin/env bash
# The GPU checks of dialsum_nb in one go, for the lent GPU machine as it comes (torch/transformers/peft/accelerate/
# pandas/pyyaml present; pydantic and ftfy not: they come as wheels from .whl/, see nbs/gpu/README.md).
# Writes JSON results and logs under OUT_DIR (default: ./gpu_results).
#   bash nbs/gpu/run_all.sh "$OUT"            # on the GPU machine: about 10 minutes on an H100/H200
#   bash nbs/gpu/run_all.sh --small OUT_DIR   # tiny shapes: a smoke test of every code path, CPU too
# Environment: PYTHON (default python3), DIALSUM_WHEELS (default .whl), DIALSUM_SITE (where the wheels are
# installed, default /tmp/dialsum_site). Each script has its own timeout so one stuck check cannot eat the rest.
# Exit status: 0 when every script succeeded, 1 when one failed, 3 when the imports cannot be satisfied.
set -u
small=; out=
for a in "$@"; do
  case "$a" in
    --small) small=--small;;
    -h|--help) sed -n 2,9p "$0"; exit 0;;
    *) out=$a;;
  esac
done
out=${out:-gpu_results}; mkdir -p "$out"; out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../.."
py=${PYTHON:-python3}
wheels=${DIALSUM_WHEELS:-.whl}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 DIALSUM_NO_PROGRESS=1 WANDB_MODE=disabled
if ls "$wheels"/*.whl > /dev/null 2>&1; then
  site=${DIALSUM_SITE:-/tmp/dialsum_site}
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$wheels"/*.whl \
    > "$out/wheels.log" 2>&1 || { echo "installing the wheels of $wheels failed: see $out/wheels.log"; exit 3; }
  export PYTHONPATH=$PWD:$site${PYTHONPATH#$PWD}
  echo "installed $(ls "$wheels"/*.whl | wc -l) wheels from $wheels into $site"
fi
# Fail in seconds, naming what is missing, rather than minutes into a benchmark.
"$py" - <<'PY' || exit 3
import importlib, sys
missing = []
for m in ('dialsum_nb.config', 'dialsum_nb.data', 'dialsum_nb.precision', 'dialsum_nb.models', 'dialsum_nb.train',
          'dialsum_nb.generate'):
    try: importlib.import_module(m)
    except ImportError as e: missing.append(f"{m}: {e}")
if missing:
    print("The GPU scripts cannot import dialsum_nb here:\n  " + "\n  ".join(missing)
          + "\nFix: on a machine with PyPI run "
          "`bash nbs/gpu/fetch_wheels.sh` (it fills .whl/ for CPython 3.12 manylinux x86_64), carry .whl to this "
          "machine (device tool: carry ['.whl']), and run this script again.", file=sys.stderr)
    sys.exit(1)
print('imports ok: dialsum_nb.train and dialsum_nb.generate load')
PY
if [ -n "$small" ]; then limits=(600 600 600); else limits=(200 240 150); fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv" 2>&1 \
  || echo "no nvidia-smi: no GPU here" > "$out/gpu.csv"
failed=0
run() {  # name, limit, script args...
  local name=$1 limit=$2; shift 2
  timeout "$limit" "$py" "$@" > "$out/$name.log" 2>&1; local rc=$?
  echo "$name: $rc"; [ $rc -eq 0 ] || failed=1
}
run precision_check "${limits[0]}" nbs/gpu/precision_check.py --out "$out/precision.json" $small
run train_bench "${limits[1]}" nbs/gpu/train_bench.py --out "$out/train_bench.json" $small
run generate_bench "${limits[2]}" nbs/gpu/generate_bench.py --out "$out/generate_bench.json" $small
exit $failed
