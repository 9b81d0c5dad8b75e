#!/usr/bin/env bash
# Download the wheels of nbs/gpu/wheels.txt (what the GPU machine's image lacks) into a folder git ignores.
#   bash nbs/gpu/fetch_wheels.sh                     # the lent GPU machine: CPython 3.12, manylinux x86_64 -> .whl/
#   bash nbs/gpu/fetch_wheels.sh --python 3.11 DEST  # another CPython (the CPU test uses this machine's 3.11)
#   bash nbs/gpu/fetch_wheels.sh --with ctranslate2  # plus one optional wheel of nbs/gpu/wheels-optional.txt
# Then call the device tool with carry ['.whl'] and run `bash nbs/gpu/run_all.sh "$OUT"` there; it installs them.
# Needs PyPI (pip download); --no-deps because wheels.txt names every missing dependency itself.
set -euo pipefail
py=3.12; dest=.whl; extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --python) py=$2; shift 2;;
    --with) extra+=("$2"); shift 2;;
    -h|--help) sed -n 2,7p "$0"; exit 0;;
    *) dest=$1; shift;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
pinned() { sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/$1" | grep -v '^$'; }
mapfile -t pins < <(pinned wheels.txt)
for name in "${extra[@]}"; do
  pin=$(pinned wheels-optional.txt | grep -i "^$name==" || true)
  if [ -z "$pin" ]; then
    echo "--with $name: not in nbs/gpu/wheels-optional.txt, which has: $(pinned wheels-optional.txt | tr '\n' ' ')"
    exit 2
  fi
  pins+=("$pin")
done
mkdir -p "$dest"
printf '*\n' > "$dest/.gitignore"  # the folder ignores itself: wheels never reach a commit
# The platform tags of the device README (pip matches a manylinux version exactly, so several are named).
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$dest" "${pins[@]}"
echo "$(ls "$dest"/*.whl | wc -l) wheels for CPython $py in $dest ($(du -sh "$dest" | cut -f1))"
