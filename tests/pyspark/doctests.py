"""PySpark's own docstring examples against a Spark Connect server.

usage: python doctests.py sc://HOST:PORT OUT.json [--conf KEY=VALUE ...] [-k EXPR] [MODULE ...]

Runs `pytest --doctest-modules` over the installed PySpark client's module
files (by default the five modules of issue 10), one pytest item per
docstring, with the globals PySpark's own `_test()` functions give them:
the module's namespace plus `spark`, a Spark Connect session to the given
URL (also exported as SPARK_CONNECT_TESTING_REMOTE), and the option flags
ELLIPSIS, NORMALIZE_WHITESPACE and IGNORE_EXCEPTION_DETAIL. `--conf` sets a
session setting before the first docstring runs (for servers that lack a
default the client reads; Kiln needs none). `-k EXPR` runs only the items
pytest's `-k` selects (e.g. `-k "explode or posexplode"`), for working on a
few functions; the counts then cover only those items.

Writes OUT.json: per module the number of items, passed, failed and
skipped, and for every failed item its name, the example that failed and
why (the exception, or the expected and actual output). Prints a summary
table. Exits 0 whenever the run itself worked; judging the counts is the
caller's business (tests/tests/suite/pyspark_doctests.rs, bench/doctests.sh).
"""
import argparse
import doctest
import json
import os
import re
import signal
import sys
import tempfile
import time

import pytest

MODULES = [
    "pyspark.sql.connect.functions.builtin",
    "pyspark.sql.dataframe",
    "pyspark.sql.column",
    "pyspark.sql.connect.group",
    "pyspark.sql.window",
]

# One docstring may run several queries; none should take this long.
ITEM_TIMEOUT_SECONDS = 120


class ItemTimeout(Exception):
    """A docstring ran longer than ITEM_TIMEOUT_SECONDS."""


def short(text, limit=400):
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def reason_of(excinfo):
    """(cause, detail): a short cause to count failures by, and the detail."""
    err = excinfo.value
    failures = getattr(err, "failures", None)  # pytest's MultipleDoctestFailures
    if failures:
        err = failures[0]
    if isinstance(err, doctest.UnexpectedException):
        exc = err.exc_info[1]
        message = str(exc).strip().splitlines()
        first = message[0] if message else ""
        cause = f"{type(exc).__name__}: {first}"
        return cause, {
            "example": short(err.example.source),
            "exception": short(f"{type(exc).__name__}: {str(exc)}", 1500),
        }
    if isinstance(err, doctest.DocTestFailure):
        return "wrong output", {
            "example": short(err.example.source),
            "expected": short(err.example.want, 1500),
            "got": short(err.got, 1500),
        }
    return f"{type(err).__name__}: {short(str(err), 200)}", {}


def cause_key(cause):
    """A cause with its specifics (names in quotes, numbers) kept, but cut
    to one line, so failures of one kind count together."""
    cause = re.sub(r"\s+", " ", cause)
    return cause[:160]


class Report:
    """The pytest plugin: gives doctests `spark` and records each item."""

    def __init__(self, remote, conf):
        self.remote = remote
        self.conf = conf
        self.items = {}
        self.spark = None

    @pytest.fixture(scope="session", autouse=True)
    def kiln_spark_session(self, doctest_namespace):
        from pyspark.sql import SparkSession

        self.spark = SparkSession.builder.remote(self.remote).getOrCreate()
        for key, value in self.conf:
            self.spark.conf.set(key, value)
        doctest_namespace["spark"] = self.spark
        yield self.spark
        self.spark.stop()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        def expired(signum, frame):
            raise ItemTimeout(f"the docstring ran longer than {ITEM_TIMEOUT_SECONDS}s")

        old = signal.signal(signal.SIGALRM, expired)
        signal.alarm(ITEM_TIMEOUT_SECONDS)
        try:
            yield
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        name = item.name
        entry = self.items.setdefault(
            name, {"module": module_of(name), "outcome": "passed"}
        )
        if report.skipped and call.when in ("setup", "call"):
            entry["outcome"] = "skipped"
        elif report.failed:
            entry["outcome"] = "failed"
            if call.excinfo is not None and "cause" not in entry:
                cause, detail = reason_of(call.excinfo)
                entry["cause"] = cause_key(cause)
                entry.update(detail)
                if call.when != "call":
                    entry["cause"] = f"{call.when}: {entry['cause']}"


def module_of(item_name):
    for m in sorted(MODULES, key=len, reverse=True):
        if item_name == m or item_name.startswith(m + "."):
            return m
    return item_name.split(".")[0]


def main():
    parser = argparse.ArgumentParser(usage=__doc__)
    parser.add_argument("remote")
    parser.add_argument("out")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("-k", dest="keyword", metavar="EXPR")
    parser.add_argument("modules", nargs="*")
    opts = parser.parse_args()
    remote, out = opts.remote, opts.out
    conf = []
    for kv in opts.conf:
        key, sep, value = kv.partition("=")
        if not sep:
            parser.error(f"--conf {kv}: expected KEY=VALUE")
        conf.append((key, value))
    global MODULES
    if opts.modules:
        MODULES = opts.modules
    os.environ["SPARK_CONNECT_TESTING_REMOTE"] = remote
    os.environ.pop("SPARK_REMOTE", None)
    plugin = Report(remote, conf)
    started = time.time()
    # Doctests write files (tables, temp folders) relative to the working
    # folder: a scratch one, removed afterwards.
    with tempfile.TemporaryDirectory(prefix="kiln-doctests-") as scratch:
        os.chdir(scratch)
        args = [
            "--doctest-modules",
            "--pyargs",
            *MODULES,
            "--rootdir",
            scratch,
            "-p",
            "no:cacheprovider",
            "-o",
            "doctest_optionflags=ELLIPSIS NORMALIZE_WHITESPACE IGNORE_EXCEPTION_DETAIL",
            "-q",
            "--no-header",
            "-rN",
            "--tb=no",
        ]
        if opts.keyword:
            args += ["-k", opts.keyword]
        code = pytest.main(args, plugins=[plugin])
    # 0: all passed, 1: some failed; anything else means the run broke.
    if code not in (0, 1):
        print(f"pytest could not run the doctests (exit code {code})", file=sys.stderr)
        return 3
    modules = {}
    for m in MODULES:
        modules[m] = {"items": 0, "passed": 0, "failed": 0, "skipped": 0}
    for entry in plugin.items.values():
        counts = modules.setdefault(
            entry["module"], {"items": 0, "passed": 0, "failed": 0, "skipped": 0}
        )
        counts["items"] += 1
        counts[entry["outcome"]] += 1
    causes = {}
    for entry in plugin.items.values():
        if entry["outcome"] == "failed":
            causes[entry["cause"]] = causes.get(entry["cause"], 0) + 1
    total = {k: sum(m[k] for m in modules.values()) for k in ("items", "passed", "failed", "skipped")}
    result = {
        "remote": remote,
        "client": client_version(),
        "seconds": round(time.time() - started, 1),
        "total": total,
        "modules": modules,
        "items": sorted(plugin.items),
        "causes": dict(sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))),
        "failures": {
            name: {k: v for k, v in e.items() if k != "outcome"}
            for name, e in sorted(plugin.items.items())
            if e["outcome"] == "failed"
        },
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    width = max(len(m) for m in modules)
    for m, c in modules.items():
        print(f"{m:<{width}}  {c['passed']:>4} / {c['items']:<4} passed")
    print(f"{'total':<{width}}  {total['passed']:>4} / {total['items']:<4} passed")
    return 0


def client_version():
    try:
        from pyspark.version import __version__

        return __version__
    except ImportError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
