# The test extension of scripts/test-wheel: pip install ./Tests/pytest-plugin/ext
from setuptools import Extension, setup

setup(
    name="gilbug",
    version="0.0.1",
    # -g: the tracer's report names racy_worker and gilbug.c:line.
    ext_modules=[Extension("gilbug", ["gilbug.c"], extra_compile_args=["-g", "-O0"])],
)
