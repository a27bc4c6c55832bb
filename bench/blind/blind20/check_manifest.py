#!/usr/bin/env python3
"""Check that the // BAD: / // OK: markers in the *.c files of this
directory match manifest.tsv one for one.

Checks:
  * every marker sits directly above a function definition (either the
    line with the function name, or the return-type line directly above it);
  * BAD markers name bad_* / PyInit_bad_* functions, OK markers ok_* /
    PyInit_ok_* functions; every bad_/ok_ function definition has a marker;
  * BAD markers list only known rule ids; OK markers list none;
  * manifest.tsv has the exact header, one row per marker (same file,
    function, expected ids, description), expected '-' for OK rows, and a
    known category.
Exit status 0 when everything matches, 1 otherwise.
"""
import csv
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = ["file", "function", "expected", "category", "description"]
RULES = {
    "critical-section-leak", "critical-section-mismatch",
    "pymutex-leak", "pymutex-unlock-without-lock",
    "thread-state-token-leak", "interpreter-guard-leak",
    "missing-mod-gil", "borrowed-ref-free-threading",
    "blocking-with-gil", "api-without-gil", "deprecated-gil-api",
}
CATEGORIES = {
    "critical-sections", "pymutex", "tokens-guards", "mod-gil",
    "borrowed-refs", "blocking", "api", "deprecated", "false-alarm-shapes",
}
MARKER = re.compile(r"^// (BAD|OK):(.*)$")
FUNC = re.compile(r"^(?:[A-Za-z_][\w \t\*]*[\s\*])?((?:PyInit_)?(?:bad|ok)_\w+)\s*\(")
RETTYPE = re.compile(r"^[A-Za-z_][\w \t\*]*$")  # e.g. "static PyObject *", "PyMODINIT_FUNC"
DEF_NAME = re.compile(r"^(?:[A-Za-z_][\w \t\*]*[\s\*])?((?:PyInit_)?(?:bad|ok)_\w+)\s*\([^;]*$")


def scan(path):
    errors, markers = [], []
    lines = open(path, encoding="utf-8").read().split("\n")
    marked_lines = set()
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        kind, rest = m.group(1), m.group(2).strip()
        where = f"{os.path.basename(path)}:{i + 1}"
        name = None
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        fm = FUNC.match(nxt)
        if fm:
            name, defline = fm.group(1), i + 1
        elif RETTYPE.match(nxt) and i + 2 < len(lines):
            fm = FUNC.match(lines[i + 2])
            if fm:
                name, defline = fm.group(1), i + 2
        if name is None:
            errors.append(f"{where}: marker not directly above a bad_/ok_ function definition")
            continue
        marked_lines.add(defline)
        base = name[len("PyInit_"):] if name.startswith("PyInit_") else name
        if kind == "BAD":
            if not base.startswith("bad_"):
                errors.append(f"{where}: BAD marker above {name}")
            parts = rest.split(None, 1)
            if len(parts) < 2:
                errors.append(f"{where}: BAD marker needs rule ids and a description")
                continue
            ids, desc = parts
            for rid in ids.split(","):
                if rid not in RULES:
                    errors.append(f"{where}: unknown rule id {rid!r}")
            expected = ids
        else:
            if not base.startswith("ok_"):
                errors.append(f"{where}: OK marker above {name}")
            first = rest.split(None, 1)[0] if rest else ""
            if any(r in RULES for r in first.split(",")):
                errors.append(f"{where}: OK marker should not list rule ids")
            if not rest:
                errors.append(f"{where}: OK marker needs a description")
            expected, desc = "-", rest
        markers.append((os.path.basename(path), name, expected, desc.strip()))
    # every bad_/ok_ definition must be marked
    for i, line in enumerate(lines):
        dm = DEF_NAME.match(line)
        if dm and i not in marked_lines:
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if nxt == "{" or line.rstrip().endswith("{") or nxt.startswith(("PyObject", "Py_", "int", "void", "const", "long", "size_t")):
                errors.append(f"{os.path.basename(path)}:{i + 1}: {dm.group(1)} has no marker")
    return markers, errors


def main():
    errors, markers = [], []
    for path in sorted(glob.glob(os.path.join(HERE, "*.c"))):
        m, e = scan(path)
        markers += m
        errors += e
    seen = set()
    for f, n, _, _ in markers:
        if (f, n) in seen:
            errors.append(f"duplicate marker for {f}:{n}")
        seen.add((f, n))

    with open(os.path.join(HERE, "manifest.tsv"), encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or rows[0] != HEADER:
        errors.append(f"manifest header must be {HEADER}, got {rows[:1]}")
    body = [r for r in rows[1:] if r]
    mrows = {}
    for k, r in enumerate(body, start=2):
        if len(r) != 5:
            errors.append(f"manifest.tsv:{k}: expected 5 columns, got {len(r)}")
            continue
        f, n, exp, cat, desc = r
        if (f, n) in mrows:
            errors.append(f"manifest.tsv:{k}: duplicate row {f}:{n}")
        mrows[(f, n)] = (exp, cat, desc)
        if cat not in CATEGORIES:
            errors.append(f"manifest.tsv:{k}: unknown category {cat!r}")
        base = n[len("PyInit_"):] if n.startswith("PyInit_") else n
        if base.startswith("ok_") != (exp == "-"):
            errors.append(f"manifest.tsv:{k}: expected {exp!r} does not fit name {n}")

    mk = {(f, n): (e, d) for f, n, e, d in markers}
    for key in sorted(set(mk) - set(mrows)):
        errors.append(f"marker without manifest row: {key[0]}:{key[1]}")
    for key in sorted(set(mrows) - set(mk)):
        errors.append(f"manifest row without marker: {key[0]}:{key[1]}")
    for key in sorted(set(mk) & set(mrows)):
        e, d = mk[key]
        me, _, md = mrows[key]
        if e != me:
            errors.append(f"{key[0]}:{key[1]}: marker expects {e!r}, manifest {me!r}")
        if d != md:
            errors.append(f"{key[0]}:{key[1]}: description differs between marker and manifest")

    nbad = sum(1 for m in markers if m[2] != "-")
    nok = len(markers) - nbad
    if errors:
        print("\n".join(errors))
        print(f"FAIL: {len(errors)} problem(s); {nbad} BAD, {nok} OK markers")
        return 1
    print(f"OK: {len(markers)} markers ({nbad} BAD, {nok} OK) match manifest.tsv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
