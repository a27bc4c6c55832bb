#!/usr/bin/env python3
"""Check that every // BAD: / // OK: marker in the sources has a manifest row and vice versa."""
import glob, os, re, sys

here = os.path.dirname(os.path.abspath(__file__))
os.chdir(here)
markers = {}
for f in sorted(glob.glob('*.c') + glob.glob('*.cpp')):
    lines = open(f).read().split('\n')
    for i, l in enumerate(lines):
        m = re.match(r'\s*// (BAD|OK):\s*(.*)$', l)
        if not m:
            continue
        txt = ' '.join(lines[i + 1:i + 4])
        name = re.findall(r'[A-Za-z_]\w*', txt[:txt.index('(')])[-1]
        rules = m.group(2).split(None, 1)[0] if m.group(1) == 'BAD' else '-'
        if (m.group(1) == 'BAD') != name.startswith('bad_') or (m.group(1) == 'OK') != name.startswith('ok_'):
            print('prefix mismatch', f, name)
        if name in markers:
            print('duplicate function', name)
        markers[name] = (f, rules)

rows = {}
with open('manifest.tsv') as fh:
    header = fh.readline().rstrip('\n').split('\t')
    assert header == ['file', 'function', 'expected', 'category', 'description'], header
    for line in fh:
        f, fn, exp, cat, desc = line.rstrip('\n').split('\t')
        if fn in rows:
            print('duplicate manifest row', fn)
        rows[fn] = (f, exp, cat)

ok = True
for fn, (f, rules) in markers.items():
    if fn not in rows:
        print('marker without row:', f, fn); ok = False
    elif rows[fn][:2] != (f, rules):
        print('mismatch:', fn, (f, rules), rows[fn][:2]); ok = False
for fn in rows:
    if fn not in markers:
        print('row without marker:', fn); ok = False
print('markers', len(markers), 'rows', len(rows), 'OK' if ok else 'FAIL')
sys.exit(0 if ok else 1)
