#!/usr/bin/env python3
"""Consistency checks for this benchmark directory (stdlib only).

Checks:
  * every `// BAD:` / `// OK:` marker sits directly above the definition of
    a function named bad_* / ok_* (the marker line is immediately followed by
    the definition; a one-line return type such as `static PyObject *` may
    precede the name on its own line);
  * every bad_* / ok_* function definition carries a marker;
  * marker kind matches the name prefix (BAD -> bad_, OK -> ok_);
  * every marker has exactly one manifest row and vice versa;
  * the manifest's expected ids equal the marker's ids; ids and categories
    come from the allowed sets; OK rows have expected `-`.
Exit status 0 when everything passes.
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
    "callbacks", "false-alarm-shapes",
}
SOURCE_EXT = (".c", ".cc", ".cpp", ".cxx", ".h", ".hpp")

MARKER_RE = re.compile(r"^\s*//\s*(BAD|OK):\s*(.*)$")
NAME_RE = re.compile(r"\b((?:bad|ok)_\w+)\s*\(")
# a line that is only a return type / storage specifiers, e.g. "static PyObject *"
TYPE_ONLY_RE = re.compile(r"^\s*[A-Za-z_][\w\s\*&:<>,]*$")

errors = []


def err(msg):
    errors.append(msg)


def is_definition(lines, idx, col):
    """True if the text starting at lines[idx][col:] reaches '{' before ';'."""
    depth = 0
    for j in range(idx, min(idx + 40, len(lines))):
        text = lines[j][col:] if j == idx else lines[j]
        for ch in text:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif depth == 0 and ch == ";":
                return False
            elif depth == 0 and ch == "{":
                return True
            elif depth == 0 and ch == "=":
                return False
    return False


def definition_name_at(lines, idx):
    """Name of a bad_/ok_ function whose definition starts on line idx."""
    line = lines[idx]
    stripped = line.strip()
    if not stripped or stripped.startswith(("//", "/*", "*", "#", "return")):
        return None
    m = NAME_RE.search(line)
    if not m:
        return None
    before = line[:m.start()]
    # the name must be the declarator: only type tokens may precede it
    if re.search(r"[=(),;{}]", before) or "return" in before.split():
        return None
    if not is_definition(lines, idx, m.end() - 1):
        return None
    return m.group(1)


def scan_file(path):
    rel = os.path.basename(path)
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    markers = {}      # function -> (kind, ids, line)
    defs = {}         # function -> line index
    for i in range(len(lines)):
        name = definition_name_at(lines, i)
        if name:
            if name in defs:
                err(f"{rel}:{i+1}: duplicate definition of {name}")
            defs[name] = i
    for i, line in enumerate(lines):
        m = MARKER_RE.match(line)
        if not m:
            continue
        kind, rest = m.group(1), m.group(2).strip()
        target = None
        if i + 1 < len(lines):
            target = definition_name_at(lines, i + 1)
            if target is None and TYPE_ONLY_RE.match(lines[i + 1]) and i + 2 < len(lines):
                target = definition_name_at(lines, i + 2)
        if target is None:
            err(f"{rel}:{i+1}: marker is not directly above a bad_/ok_ function definition")
            continue
        if kind == "BAD":
            if not target.startswith("bad_"):
                err(f"{rel}:{i+1}: BAD marker above {target}")
            parts = rest.split(None, 1)
            if len(parts) < 2:
                err(f"{rel}:{i+1}: BAD marker needs 'rule-id[,rule-id] description'")
                continue
            ids = parts[0].split(",")
            for rid in ids:
                if rid not in RULES:
                    err(f"{rel}:{i+1}: unknown rule id {rid!r}")
            if len(set(ids)) != len(ids):
                err(f"{rel}:{i+1}: duplicate rule id in marker")
        else:
            if not target.startswith("ok_"):
                err(f"{rel}:{i+1}: OK marker above {target}")
            if not rest:
                err(f"{rel}:{i+1}: OK marker needs a description")
            ids = ["-"]
        if target in markers:
            err(f"{rel}:{i+1}: second marker for {target}")
        markers[target] = (kind, ids, i + 1)
    for name, idx in defs.items():
        if name not in markers:
            err(f"{rel}:{idx+1}: {name} has no marker directly above it")
    return markers


def main():
    all_markers = {}
    for fn in sorted(os.listdir(HERE)):
        if fn.endswith(SOURCE_EXT):
            for func, info in scan_file(os.path.join(HERE, fn)).items():
                all_markers[(fn, func)] = info

    manifest_path = os.path.join(HERE, "manifest.tsv")
    with open(manifest_path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        if header != ["file", "function", "expected", "category", "description"]:
            err(f"manifest.tsv: bad header {header}")
        rows = {}
        for n, row in enumerate(reader, start=2):
            if not row or all(not c for c in row):
                continue
            if len(row) != 5:
                err(f"manifest.tsv:{n}: expected 5 columns, got {len(row)}")
                continue
            f, func, expected, category, desc = row
            key = (f, func)
            if key in rows:
                err(f"manifest.tsv:{n}: duplicate row for {f}:{func}")
            rows[key] = (expected, category, desc, n)
            if category not in CATEGORIES:
                err(f"manifest.tsv:{n}: unknown category {category!r}")
            if not desc.strip():
                err(f"manifest.tsv:{n}: empty description")
            if expected != "-":
                for rid in expected.split(","):
                    if rid not in RULES:
                        err(f"manifest.tsv:{n}: unknown rule id {rid!r}")

    for key, (kind, ids, line) in all_markers.items():
        if key not in rows:
            err(f"{key[0]}:{line}: marker for {key[1]} has no manifest row")
            continue
        expected, category, desc, n = rows[key]
        want = ",".join(ids)
        if kind == "OK" and expected != "-":
            err(f"manifest.tsv:{n}: OK function {key[1]} must have expected '-'")
        if kind == "BAD":
            if expected == "-":
                err(f"manifest.tsv:{n}: BAD function {key[1]} has expected '-'")
            elif expected != want:
                err(f"manifest.tsv:{n}: expected {expected!r} != marker ids {want!r}")
    for key, (expected, category, desc, n) in rows.items():
        if key not in all_markers:
            err(f"manifest.tsv:{n}: row {key[0]}:{key[1]} has no marker in the sources")

    if errors:
        for e in errors:
            print("ERROR:", e)
        print(f"{len(errors)} problem(s)")
        return 1
    bad = sum(1 for v in all_markers.values() if v[0] == "BAD")
    ok = len(all_markers) - bad
    per = {}
    for key, (expected, category, desc, n) in rows.items():
        b, o = per.get(category, (0, 0))
        per[category] = (b + (expected != "-"), o + (expected == "-"))
    print(f"OK: {len(all_markers)} scored functions ({bad} bad, {ok} ok)")
    for c in sorted(per):
        print(f"  {c:20s} bad={per[c][0]:3d} ok={per[c][1]:3d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
