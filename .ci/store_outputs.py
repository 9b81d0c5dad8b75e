"""Store the outputs of a notebook's cheap, deterministic cells, so it reads well without running it.

Usage: python .ci/store_outputs.py nbs/04_metrics.ipynb [more notebooks]   (then `nbdev_clean`, commit)

Each notebook is executed twice, as `nbdev_test` runs it (`IN_TEST=1`, from `nbs/`, `#| slow`, `#| gpu`,
`#| notest` and `#| eval: false` cells skipped), each time in a fresh process with its own temporary folder.
A code cell keeps its outputs only when both runs gave exactly the same ones, none is an error or stderr, they
are small (text under 6,000 characters, images under 150 kB), and they name no temporary or repository path:
timings, random temp paths and warnings are thereby left out by measurement, not by a list. Every other
cell's outputs are cleared. Prints, per notebook, how many cells kept outputs.
"""
import json, os, subprocess, sys, tempfile, uuid
from pathlib import Path

RUNNER = r'''
import json, os, sys
from pathlib import Path
from execnb.shell import CaptureShell
from nbdev.process import NBProcessor
from nbdev.frontmatter import FrontmatterProc
from fastcore.xtras import working_directory
os.environ['IN_TEST'] = '1'
fn, out = Path(sys.argv[1]).resolve(), sys.argv[2]
SKIP = {'slow', 'gpu', 'notest'}
nb = NBProcessor(fn, procs=FrontmatterProc, process=True).nb
def skipped(cell):
    if cell.cell_type != 'code': return True
    flags = getattr(cell, 'directives_', {}) or {}
    return bool(SKIP & flags.keys()) or flags.get('eval:', [''])[0].lower() == 'false'
shell = CaptureShell(fn)
with working_directory(fn.parent): shell.run_all(nb, exc_stop=False, preproc=skipped)
outputs = {c.id: [dict(o) for o in c.get('outputs', [])] for c in nb.cells if c.cell_type == 'code'}
Path(out).write_text(json.dumps(outputs, default=str))
'''

def run_once(notebook: Path, workdir: Path) -> dict:
    "Outputs by cell id of one execution of `notebook`, with `workdir` as the temporary folder."
    out = workdir/'outputs.json'
    env = {**os.environ, 'TMPDIR': str(workdir), 'TMP': str(workdir), 'TEMP': str(workdir)}
    subprocess.run([sys.executable, '-c', RUNNER, str(notebook), str(out)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())

def _clean(output: dict) -> dict:
    "`output` as nbformat stores it, without execution counts or metadata (streams have no metadata field)."
    output = {k: v for k, v in output.items() if k not in ('execution_count', 'metadata')}
    if output['output_type'] == 'execute_result': output['execution_count'] = None
    if output['output_type'] in ('execute_result', 'display_data'): output['metadata'] = {}
    return output

def keepable(first: list, second: list, forbidden: list[str]) -> bool:
    "Whether a cell's outputs from two runs may be stored (see the module docstring)."
    if not first or first != second: return False
    for output in first:
        if output['output_type'] == 'error' or output.get('name') == 'stderr': return False
        data = output.get('data', {})
        text = ''.join(output.get('text', '')) + ''.join(''.join(v) for k, v in data.items() if k.startswith('text/'))
        images = sum(len(''.join(v)) for k, v in data.items() if k.startswith('image/'))
        if len(text) > 6000 or images > 150_000 or any(path in text for path in forbidden): return False
    return True

def give_ids(notebook: Path):
    "Give every cell of `notebook` an id (nbformat 4.5), so outputs find their cell whatever nbdev skips."
    nb = json.loads(notebook.read_text(encoding='utf-8'))
    missing = [cell for cell in nb['cells'] if not cell.get('id')]
    for cell in missing: cell['id'] = uuid.uuid4().hex[:8]
    if missing: notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')

def store_outputs(notebook: Path) -> tuple[int, int]:
    "(cells that kept outputs, code cells) after storing `notebook`'s deterministic outputs in place."
    give_ids(notebook)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        runs = [run_once(notebook, Path(a)), run_once(notebook, Path(b))]
        forbidden = [a, b, str(Path.cwd()), tempfile.gettempdir() + '/tmp']
    nb = json.loads(notebook.read_text(encoding='utf-8'))
    kept = code = 0
    for cell in nb['cells']:
        if cell['cell_type'] != 'code': continue
        code += 1
        first, second = (run.get(cell['id'], []) for run in runs)
        cell['outputs'] = [_clean(o) for o in first] if keepable(first, second, forbidden) else []
        cell['execution_count'] = None
        kept += bool(cell['outputs'])
    import nbformat
    nbformat.validate(nbformat.from_dict(nb))  # what Jupyter will check when it opens the notebook
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    return kept, code

if __name__ == '__main__':
    for name in sys.argv[1:]:
        kept, code = store_outputs(Path(name))
        print(f'{name}: outputs kept in {kept} of {code} code cells')
