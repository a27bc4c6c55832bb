"""gilcheck from a wheel: the gilcheck binary, its trace library and test host, and the libclang to load.

The binary (bin/gilcheck, Swift, its standard library linked in statically) loads libclang at run time; this
package points it at the libclang of the libclang-ng wheel (GILCHECK_LIBCLANG), which also carries clang's
builtin headers. `gilcheck` on PATH is the console script in __main__, which execs the binary.
"""
import importlib.util
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def binary():
    """The gilcheck executable shipped in this package."""
    return os.path.join(_HERE, "bin", "gilcheck")


def libclang():
    """libclang.so of the installed libclang-ng wheel (the `clang` package), or None."""
    spec = importlib.util.find_spec("clang")  # finds the package without importing its bindings
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(location, "native", "libclang.so")
        if os.path.isfile(path):
            return path
    return None


def environment(base=None):
    """`base` (default: this process's environment) with GILCHECK_LIBCLANG set, unless it is set already."""
    env = dict(os.environ if base is None else base)
    if not env.get("GILCHECK_LIBCLANG"):
        path = libclang()
        if path:
            env["GILCHECK_LIBCLANG"] = path
    return env
