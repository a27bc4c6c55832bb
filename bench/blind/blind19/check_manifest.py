#!/usr/bin/env python3
"""Consistency check for the blind19 benchmark set.

* every `// BAD:` / `// OK:` marker in a .c/.cpp file is directly above the
  definition of a function named bad_* / ok_* respectively;
* every marker has exactly one manifest.tsv row (file, function) and vice versa;
* expected rule ids in the manifest equal the ids on the BAD marker (`-` for OK);
* rule ids and categories come from the allowed sets;
* no bad_*/ok_* function definition is left without a marker.

Exit status 0 when everything is consistent.
"""
import csv
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

RULES = {
    "allow-threads-leak", "api-without-gil", "blocking-with-gil", "ensure-leak",
    "finalize-without-gil", "init-holds-gil", "nested-release", "release-order",
    "release-without-ensure", "restore-without-save", "thread-entry-without-gil",
    "deprecated-gil-api",
}
CATEGORIES = {
    "finalization", "order", "lockorder", "leaks", "api", "blocking", "cxx",
    "false-alarm-shapes",
}

MARKER_RE = re.compile(r"^// (BAD|OK):\s*(.*)$")
NAME_RE = re.compile(r"\b((?:bad|ok)_\w+)\s*\(")
DEF_RE = re.compile(r"^[A-Za-z_].*?\b((?:bad|ok)_\w+)\s*\(")


def parse_sources():
    markers = {}
    errors = []
    for fn in sorted(os.listdir(HERE)):
        if not fn.endswith((".c", ".cpp")):
            continue
        with open(os.path.join(HERE, fn), encoding="utf-8") as f:
            lines = f.read().splitlines()
        marked_lines = set()
        for i, line in enumerate(lines):
            m = MARKER_RE.match(line)
            if not m:
                continue
            kind, rest = m.group(1), m.group(2)
            ids = "-"
            if kind == "BAD":
                ids, _, desc = rest.partition(" ")
                if not desc.strip():
                    errors.append(f"{fn}:{i+1}: BAD marker without description")
                for r in ids.split(","):
                    if r not in RULES:
                        errors.append(f"{fn}:{i+1}: unknown rule id {r!r}")
            elif not rest.strip():
                errors.append(f"{fn}:{i+1}: OK marker without description")
            # definition: the next line, or the line after a return-type-only line
            name = None
            for j in (i + 1, i + 2):
                if j >= len(lines):
                    break
                nm = NAME_RE.search(lines[j])
                if nm:
                    name = nm.group(1)
                    marked_lines.add(j)
                    break
                if "(" in lines[j] or lines[j].strip() == "":
                    break
            if name is None:
                errors.append(f"{fn}:{i+1}: marker not directly above a bad_/ok_ function definition")
                continue
            want = "bad_" if kind == "BAD" else "ok_"
            if not name.startswith(want):
                errors.append(f"{fn}:{i+1}: {kind} marker on {name} (expected prefix {want})")
            key = (fn, name)
            if key in markers:
                errors.append(f"{fn}:{i+1}: duplicate marker for {name}")
            markers[key] = ids
        # unmarked bad_/ok_ definitions
        for j, line in enumerate(lines):
            if j in marked_lines or line.rstrip().endswith((";", ",")):
                continue
            dm = DEF_RE.match(line)
            if dm and not line.lstrip().startswith(("//", "/*", "*")):
                errors.append(f"{fn}:{j+1}: definition of {dm.group(1)} has no marker")
    return markers, errors


def parse_manifest():
    rows = {}
    errors = []
    path = os.path.join(HERE, "manifest.tsv")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader)
        if header != ["file", "function", "expected", "category", "description"]:
            errors.append(f"manifest.tsv: bad header {header}")
        for n, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 5:
                errors.append(f"manifest.tsv:{n}: expected 5 columns, got {len(row)}")
                continue
            fn, func, expected, cat, desc = row
            if cat not in CATEGORIES:
                errors.append(f"manifest.tsv:{n}: unknown category {cat!r}")
            if not desc.strip():
                errors.append(f"manifest.tsv:{n}: empty description")
            if func.startswith("bad_"):
                if expected == "-":
                    errors.append(f"manifest.tsv:{n}: bad_ row with expected '-'")
                for r in expected.split(","):
                    if expected != "-" and r not in RULES:
                        errors.append(f"manifest.tsv:{n}: unknown rule id {r!r}")
            elif func.startswith("ok_"):
                if expected != "-":
                    errors.append(f"manifest.tsv:{n}: ok_ row must have expected '-'")
            else:
                errors.append(f"manifest.tsv:{n}: function {func} lacks bad_/ok_ prefix")
            key = (fn, func)
            if key in rows:
                errors.append(f"manifest.tsv:{n}: duplicate row for {fn} {func}")
            rows[key] = (expected, cat)
    return rows, errors


def main():
    markers, errors = parse_sources()
    rows, merr = parse_manifest()
    errors += merr
    for key, ids in sorted(markers.items()):
        if key not in rows:
            errors.append(f"marker without manifest row: {key[0]} {key[1]}")
        elif rows[key][0] != ids:
            errors.append(f"expected mismatch for {key[0]} {key[1]}: marker {ids!r} manifest {rows[key][0]!r}")
    for key in sorted(rows):
        if key not in markers:
            errors.append(f"manifest row without marker: {key[0]} {key[1]}")

    nbad = sum(1 for k in markers if k[1].startswith("bad_"))
    nok = sum(1 for k in markers if k[1].startswith("ok_"))
    per_cat = {}
    for key, (exp, cat) in rows.items():
        b, o = per_cat.get(cat, (0, 0))
        per_cat[cat] = (b + (exp != "-"), o + (exp == "-"))
    if errors:
        for e in errors:
            print("ERROR:", e)
        print(f"{len(errors)} problem(s)")
        return 1
    print(f"OK: {len(markers)} markers ({nbad} bad, {nok} ok) in "
          f"{len({k[0] for k in markers})} files, manifest consistent")
    for cat in sorted(per_cat):
        print(f"  {cat:20s} bad={per_cat[cat][0]:3d} ok={per_cat[cat][1]:3d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
