"""The `gilcheck` console script: execs the packaged binary with GILCHECK_LIBCLANG pointing at libclang-ng."""
import os
import sys

from gilcheck import binary, environment


def main():
    exe = binary()
    if not os.access(exe, os.X_OK):
        sys.stderr.write(f"gilcheck: the packaged binary {exe} is missing or not executable; reinstall the wheel\n")
        return 2
    # argv[0] is the binary's own path: it finds its trace library and test host relative to itself.
    os.execve(exe, [exe] + sys.argv[1:], environment())


if __name__ == "__main__":
    sys.exit(main())
