"""No code line over 119 columns, in the notebooks' code cells and in the package (ruff's E501 measures).

Usage: python .ci/line_length.py   (CI runs it after ruff)

nbdev writes each module's `__all__` with `pprint.pformat(width=160)`, so those generated lines may be longer
and nothing in a notebook controls them: they are the one exemption. Everything else, including the module
docstring nbdev makes from a notebook's `> summary` line, must fit.
"""
import ast, json, subprocess, sys
from pathlib import Path

def all_lines(module: Path) -> set[int]:
    "Line numbers of `module`'s generated `__all__ = [...]` statement."
    for node in ast.parse(module.read_text(encoding='utf-8')).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == '__all__':
            return set(range(node.lineno, node.end_lineno + 1))
    return set()

def too_long(paths=('nbs', 'dialsum_nb')) -> list[str]:
    "Ruff's E501 findings at 119 columns, less the generated `__all__` lines."
    result = subprocess.run(['ruff', 'check', '--no-cache', '--isolated', '--select', 'E501', '--line-length', '119',
                             '--exclude', 'dialsum_nb/_modidx.py', '--output-format', 'json', *paths],
                            capture_output=True, text=True)
    findings, exempt = json.loads(result.stdout or '[]'), {}
    out = []
    for f in findings:
        path, row = Path(f['filename']), f['location']['row']
        if path.suffix == '.py' and path.parent.name == 'dialsum_nb':
            if path not in exempt: exempt[path] = all_lines(path)
            if row in exempt[path]: continue
        cell = f" (cell {f['location'].get('cell')})" if path.suffix == '.ipynb' else ''
        out.append(f"{path.relative_to(Path.cwd()) if path.is_absolute() else path}:{row}{cell}: {f['message']}")
    return out

if __name__ == '__main__':
    problems = too_long(sys.argv[1:] or ('nbs', 'dialsum_nb'))
    print('\n'.join(problems) or 'no line over 119 columns')
    sys.exit(bool(problems))
