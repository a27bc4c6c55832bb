"""Builds the gilcheck wheel; also the PEP 517 build backend of the repository root (pyproject.toml).

    python3 python/gilcheck_build.py [--out DIR] [--tree PREFIX]

runs scripts/install into a staging prefix (a release build, the Swift standard library linked statically),
or takes an installed tree with --tree, and writes gilcheck-VERSION-py3-none-PLATFORM.whl holding

    gilcheck/__init__.py, __main__.py, pytest_plugin.py    the console script and the pytest plugin
    gilcheck/bin/gilcheck                                    the binary
    gilcheck/lib/gilcheck/libgilcheck-trace.so, gilcheck-host

PLATFORM is manylinux_2_N_ARCH, N being the newest GLIBC_2.N symbol version any of the three ELF files
needs (objdump -T). The wheel depends on libclang-ng, whose libclang.so the binary loads at run time.

`pip install .` at the repository root calls build_wheel below, so it needs what scripts/install needs: the
Swift 6 toolchain and Debian's libclang-19-dev and python3-dev.
"""
import argparse
import base64
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "python", "gilcheck")
NAME = "gilcheck"
# libclang-ng 22 is what the wheel is tested with; it ships clang's builtin headers beside libclang.so.
REQUIRES = ["libclang-ng>=22"]
SUMMARY = "Finds GIL mistakes in C and C++ code that calls CPython from several threads (lint and runtime trace)"
ELF_FILES = ["bin/gilcheck", "lib/gilcheck/libgilcheck-trace.so", "lib/gilcheck/gilcheck-host"]


def install_tree(prefix):
    subprocess.run([os.path.join(ROOT, "scripts", "install"), prefix], check=True, stdout=sys.stderr)


def version(tree):
    out = subprocess.run([os.path.join(tree, "bin", "gilcheck"), "--version"], check=True, capture_output=True,
                         text=True).stdout.strip()
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", out):
        raise SystemExit(f"gilcheck_build: unexpected `gilcheck --version` output {out!r}")
    return out


def glibc_needed(tree):
    """The newest (major, minor) of the GLIBC_ symbol versions the ELF files of the tree need."""
    newest = (2, 17)
    for rel in ELF_FILES:
        out = subprocess.run(["objdump", "-T", os.path.join(tree, rel)], check=True, capture_output=True,
                             text=True).stdout
        for major, minor in re.findall(r"\bGLIBC_([0-9]+)\.([0-9]+)", out):
            newest = max(newest, (int(major), int(minor)))
    return newest


def platform_tag(tree):
    major, minor = glibc_needed(tree)
    return f"manylinux_{major}_{minor}_{platform.machine()}"


def _record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_wheel(tree, out_dir):
    ver, plat = version(tree), platform_tag(tree)
    tag = f"py3-none-{plat}"
    dist_info = f"{NAME}-{ver}.dist-info"
    files = []  # (archive name, bytes, executable)
    for name in sorted(os.listdir(PACKAGE)):
        if name.endswith(".py"):
            with open(os.path.join(PACKAGE, name), "rb") as f:
                files.append((f"gilcheck/{name}", f.read(), False))
    for rel in ELF_FILES:
        with open(os.path.join(tree, rel), "rb") as f:
            files.append((f"gilcheck/{rel}", f.read(), True))
    metadata = "".join([
        "Metadata-Version: 2.1\n", f"Name: {NAME}\n", f"Version: {ver}\n", f"Summary: {SUMMARY}\n",
        "Requires-Python: >=3.10\n", *[f"Requires-Dist: {r}\n" for r in REQUIRES],
    ])
    wheel = f"Wheel-Version: 1.0\nGenerator: gilcheck_build\nRoot-Is-Purelib: false\nTag: {tag}\n"
    entry_points = ("[console_scripts]\ngilcheck = gilcheck.__main__:main\n\n"
                    "[pytest11]\ngilcheck = gilcheck.pytest_plugin\n")
    files += [(f"{dist_info}/METADATA", metadata.encode(), False), (f"{dist_info}/WHEEL", wheel.encode(), False),
              (f"{dist_info}/entry_points.txt", entry_points.encode(), False)]
    record = "".join(f"{n},{_record_hash(d)},{len(d)}\n" for n, d, _ in files) + f"{dist_info}/RECORD,,\n"
    files.append((f"{dist_info}/RECORD", record.encode(), False))
    os.makedirs(out_dir, exist_ok=True)
    filename = f"{NAME}-{ver}-{tag}.whl"
    path = os.path.join(out_dir, filename)
    with zipfile.ZipFile(path + ".part", "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, executable in files:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    os.replace(path + ".part", path)
    return filename


def build(out_dir, tree=None):
    if tree:
        return write_wheel(tree, out_dir)
    stage = tempfile.mkdtemp(prefix="gilcheck-wheel-")
    try:
        install_tree(os.path.join(stage, "prefix"))
        return write_wheel(os.path.join(stage, "prefix"), out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# PEP 517 hooks: `pip install .` and pre-commit's install of this repository.
def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return build(wheel_directory)


def main():
    parser = argparse.ArgumentParser(description="Build the gilcheck wheel.")
    parser.add_argument("--out", default=os.path.join(ROOT, "dist"), help="directory for the wheel (default: dist/)")
    parser.add_argument("--tree", help="an installed tree (scripts/install PREFIX) to pack instead of building")
    args = parser.parse_args()
    print(os.path.join(args.out, build(os.path.abspath(args.out), args.tree)))


if __name__ == "__main__":
    main()
