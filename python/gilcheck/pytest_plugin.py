"""pytest --gilcheck-trace: run the whole session again under the GIL tracer and report what it found.

With --gilcheck-trace, pytest does not run the tests itself: it runs

    gilcheck trace --keep-logs DIR --format text --report DIR/report.txt -- python -m pytest ARGS...

(the same arguments without the --gilcheck-* options), so every C extension the tests load is traced on every
thread. Then it prints the text report in a "gilcheck trace" section after the session's own summary, and with
--gilcheck-report FILE writes the report again from the kept logs as JSON or SARIF (by the file's extension:
.json, .sarif; or --gilcheck-format).

Exit status: the inner session's when its tests failed (1) or it could not run (2-5); else 0 when the tracer
found nothing, 2 for a bad --gilcheck-trace-args, and 1 for anything it reported: GIL faults, a hang, a traced
child process killed by a signal, a run that left no trace logs.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import gilcheck

_INNER = "GILCHECK_PYTEST_INNER_STATUS"  # set in the traced session: where it writes its exit status
_OPTIONS_WITH_VALUE = ("--gilcheck-report", "--gilcheck-format", "--gilcheck-trace-args")


def pytest_addoption(parser):
    group = parser.getgroup("gilcheck", "runtime GIL checks (gilcheck trace)")
    group.addoption("--gilcheck-trace", action="store_true", default=False,
                    help="run the session again under `gilcheck trace` and report the GIL faults the tests hit")
    group.addoption("--gilcheck-report", metavar="FILE", default=None,
                    help="also write the trace report to FILE: JSON (.json) or SARIF (.sarif), see --gilcheck-format")
    group.addoption("--gilcheck-format", choices=("json", "sarif", "text", "html", "chrome"), default=None,
                    help="format of --gilcheck-report (default: from its extension; text otherwise)")
    group.addoption("--gilcheck-trace-args", metavar="ARGS", default="",
                    help="more `gilcheck trace` options, space-separated (e.g. \"--hang-timeout 10s --no-timeline\")")


def _inner_arguments(args):
    """The session's arguments without this plugin's options."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--gilcheck-trace":
            continue
        if a in _OPTIONS_WITH_VALUE:
            skip = True
            continue
        if any(a.startswith(o + "=") for o in _OPTIONS_WITH_VALUE):
            continue
        out.append(a)
    return out


def _report_format(path, explicit):
    if explicit:
        return explicit
    ext = os.path.splitext(path)[1].lower()
    return {".json": "json", ".sarif": "sarif", ".html": "html"}.get(ext, "text")


def _section(title, text):
    width = shutil.get_terminal_size((80, 20)).columns
    sys.stdout.write("\n" + f" {title} ".center(width, "=") + "\n" + text)
    if text and not text.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    if not config.getoption("gilcheck_trace") or os.environ.get(_INNER):
        return None
    work = tempfile.mkdtemp(prefix="gilcheck-pytest-")
    try:
        logs, text_report = os.path.join(work, "logs"), os.path.join(work, "report.txt")
        status_file = os.path.join(work, "pytest-status")
        env = gilcheck.environment()
        env[_INNER] = status_file
        extra = config.getoption("gilcheck_trace_args").split()
        command = ([gilcheck.binary(), "trace", "--keep-logs", logs, "--format", "text", "--report", text_report]
                   + extra + ["--", sys.executable, "-m", "pytest"] + _inner_arguments(config.invocation_params.args))
        traced = subprocess.run(command, env=env, cwd=str(config.invocation_params.dir)).returncode
        report = open(text_report, encoding="utf-8").read() if os.path.exists(text_report) else ""
        _section("gilcheck trace", report or f"gilcheck trace wrote no report (exit status {traced})\n")
        destination = config.getoption("gilcheck_report")
        if destination and os.path.isdir(logs):
            destination = os.path.join(str(config.invocation_params.dir), destination)
            fmt = _report_format(destination, config.getoption("gilcheck_format"))
            subprocess.run([gilcheck.binary(), "trace", "--from-logs", logs, "--format", fmt, "--report", destination]
                           + extra, env=env, stdout=subprocess.DEVNULL)
            sys.stdout.write(f"gilcheck trace: {fmt} report written to {destination}\n")
        try:
            inner = int(open(status_file).read().strip())
        except (OSError, ValueError):
            inner = None
        if inner:
            return inner
        if inner is None and traced == 0:
            return 3  # the session never reached its end, yet the tracer saw nothing wrong
        return {0: 0, 2: 2}.get(traced, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get(_INNER)
    if path:
        with open(path, "w") as f:
            f.write(str(int(exitstatus)))
