# Run with `pytest --gilcheck-trace` (scripts/test-wheel): the racy test passes, yet the tracer reports the
# GIL fault it hit.
import gilbug


def test_correct_takes_the_gil():
    assert gilbug.correct() is None


def test_racy_calls_python_without_the_gil():
    assert gilbug.racy() is None
