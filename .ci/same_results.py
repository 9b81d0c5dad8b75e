"""Do two runs of the pipeline give the same results? Compares two experiment folders file by file.

Usage: python .ci/same_results.py EXPERIMENT_A EXPERIMENT_B

Compared exactly: every `predictions_*.csv` (each model and fold), every ensemble's and TTA's predictions and
`results.csv` (`ensemble/*.csv`, `tta/*.csv`), `submission.csv`, and the scores in every `scores.json` (timings
and paths are left out: they differ between any two runs). Run both with the same thread count
(`OMP_NUM_THREADS`): a different one changes float32 sums, and so the log-probabilities in the 7th digit.
Prints what differs; exit 1 if anything does, or if nothing was compared.
"""
import json, sys
from pathlib import Path
import pandas as pd

TIMING_KEYS = {'seconds', 'train_seconds', 'started', 'finished', 'time', 'samples_per_s', 'tokens_per_s',
               'peak_memory_mb', 'path'}

def _scores(obj):
    "`obj` without timing and path fields, recursively."
    if isinstance(obj, dict): return {k: _scores(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list): return [_scores(v) for v in obj]
    return obj

def compare(a: Path, b: Path) -> tuple[int, list[str]]:
    "(files compared, differences) between experiment folders `a` and `b`."
    patterns = ['**/predictions_*.csv', 'submission.csv', '**/scores.json', 'ensemble/*.csv', 'tta/*.csv']
    files = sorted({p.relative_to(a) for pattern in patterns for p in a.glob(pattern)}
                   | {p.relative_to(b) for pattern in patterns for p in b.glob(pattern)})
    differences = []
    for rel in files:
        if not (a/rel).exists() or not (b/rel).exists():
            differences.append(f'{rel}: only in {a if (a/rel).exists() else b}'); continue
        if rel.suffix == '.json':
            same = _scores(json.loads((a/rel).read_text())) == _scores(json.loads((b/rel).read_text()))
        else:
            left, right = pd.read_csv(a/rel), pd.read_csv(b/rel)
            left, right = (df.drop(columns=[c for c in df if c in TIMING_KEYS]) for df in (left, right))
            same = left.equals(right)
        if not same: differences.append(f'{rel}: differs')
    return len(files), differences

if __name__ == '__main__':
    n, differences = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    print('\n'.join(differences) or f'same results: {n} files compared')
    sys.exit(1 if differences or n == 0 else 0)
