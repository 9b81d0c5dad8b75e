"""Does a refactor change the package's code? Compares dialsum_nb/*.py with a git ref, statement by statement.

Usage: python .ci/same_code.py [REF]   (REF defaults to HEAD; run it before committing a refactor)

Each module's top-level statements are compared as a multiset of `ast.dump`s: comments, blank lines, line
breaks, argument comments (docments) and the order of cells do not count; any change to what the code does
(or to a docstring) does. `__all__` is compared as a set. Prints the names that differ; exit 1 if any do.
"""
import ast, subprocess, sys
from collections import Counter
from pathlib import Path

def statements(source: str) -> Counter:
    "Multiset of a module's top-level statements, as position-free dumps (`__all__` sorted)."
    out = Counter()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == '__all__':
            out[('__all__', tuple(sorted(ast.literal_eval(node.value))))] += 1
        else: out[(_name(node), ast.dump(node))] += 1
    return out

def _name(node) -> str:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): return node.name
    if isinstance(node, ast.Assign): return ','.join(ast.unparse(t) for t in node.targets)
    return ast.unparse(node).splitlines()[0][:60]

def changed(ref: str = 'HEAD') -> dict[str, tuple[list, list]]:
    "For each module that differs from `ref`: (names only in `ref`, names only in the working tree)."
    names = subprocess.run(['git', 'ls-tree', '--name-only', ref, 'dialsum_nb/'], capture_output=True, text=True,
                           check=True).stdout.split()
    modules = {n for n in names if n.endswith('.py') and not n.endswith('_modidx.py')}
    modules |= {str(p) for p in Path('dialsum_nb').glob('*.py') if p.name != '_modidx.py'}
    out = {}
    for module in sorted(modules):
        old = subprocess.run(['git', 'show', f'{ref}:{module}'], capture_output=True, text=True).stdout
        new = Path(module).read_text(encoding='utf-8') if Path(module).exists() else ''
        a, b = statements(old), statements(new)
        if a != b: out[module] = (sorted(k[0] for k in (a - b).elements()), sorted(k[0] for k in (b - a).elements()))
    return out

if __name__ == '__main__':
    diffs = changed(sys.argv[1] if len(sys.argv) > 1 else 'HEAD')
    for module, (gone, new) in diffs.items(): print(f'{module}:\n  only before: {gone}\n  only after:  {new}')
    print('same code' if not diffs else f'{len(diffs)} module(s) differ')
    sys.exit(bool(diffs))
