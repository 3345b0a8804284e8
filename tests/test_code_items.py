"""Run every benign code item's own test (``data/benign/code/*.jsonl``).

Each item is checked the way CONTENT_SPEC.md describes:

* python      ``solution + "\\n\\n" + test`` in a fresh interpreter, and the
              solution followed by its ``demo`` wrapped in ``main()`` (the form
              the script and fix-it wrappers show), which must run and print.
* javascript  ``<module_name>.js`` and ``test.js`` in a temp dir, ``node test.js``.
* bash        the solution saved as an executable file, the test run with
              ``bash -euo pipefail`` in a temp dir with ``$SCRIPT`` pointing at it.
* go          ``main.go`` built with ``go build -o prog``, the test run with
              ``bash -euo pipefail`` and ``$BIN`` pointing at the program.

A language whose toolchain (node, bash, go) is missing is skipped. There is one
test per item; to keep the module fast, the selected items are run once, in
parallel subprocesses, by a session fixture, and each test reports its own item.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODE_DIR = ROOT / "data" / "benign" / "code"

REQUIRED = {
    "python": ("id", "request", "language", "solution", "demo", "test"),
    "javascript": ("id", "request", "language", "module_name", "solution", "usage", "test"),
    "bash": ("id", "request", "language", "solution", "test"),
    "go": ("id", "request", "language", "solution", "run", "test"),
}
TOOLCHAIN = {"python": sys.executable, "javascript": "node", "bash": "bash", "go": "go"}
RUN_TIMEOUT = 60      # seconds for one test run (generous: runs share the CPUs)
BUILD_TIMEOUT = 180   # seconds for one `go build`
WORKERS = max(2, (os.cpu_count() or 2) + 1)


def _load() -> list[dict]:
    """Every item of every code file, tagged with where it came from."""
    items = []
    for path in sorted(CODE_DIR.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                item = json.loads(line)
                item["_where"] = f"{path.name}:{number}"
                items.append(item)
    return items


ITEMS = _load()


def _main(demo: str) -> str:
    """The demo as the body of ``main()``, exactly as builders/compose.py lays it out."""
    body = "\n".join(f"    {line}" if line.strip() else "" for line in demo.strip("\n").splitlines())
    return f"def main() -> None:\n{body}\n\n\nif __name__ == \"__main__\":\n    main()"


def _run(args: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> tuple[int | None, str, str]:
    """Run ``args`` in its own process group; on timeout kill that whole group.

    Returns (returncode, stdout, stderr); returncode is None after a timeout.
    """
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # only the group this helper started
        except ProcessLookupError:
            pass
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            out, err = "", ""
        return None, out or "", (err or "") + f"\n[timed out after {timeout} s]"


def _failure(item: dict, stage: str, rc: int | None, out: str, err: str) -> str:
    """A failure message that names the item."""
    tail = (err.strip() or out.strip())[-2000:]
    status = "timed out" if rc is None else f"exit code {rc}"
    return f"{item['id']} ({item['_where']}): {stage} failed ({status})\n{tail}"


def _check_python(item: dict, tmp: Path) -> str | None:
    solution = item["solution"]
    rc, out, err = _run([sys.executable, "-c", solution + "\n\n" + item["test"]], tmp, RUN_TIMEOUT)
    if rc != 0:
        return _failure(item, "solution + test", rc, out, err)
    script = solution.strip() + "\n\n\n" + _main(item["demo"])
    rc, out, err = _run([sys.executable, "-c", script], tmp, RUN_TIMEOUT)
    if rc != 0:
        return _failure(item, "solution + demo in main()", rc, out, err)
    if not out.strip():
        return f"{item['id']} ({item['_where']}): the demo printed nothing"
    return None


def _check_javascript(item: dict, tmp: Path) -> str | None:
    (tmp / f"{item['module_name']}.js").write_text(item["solution"], encoding="utf-8")
    (tmp / "test.js").write_text(item["test"], encoding="utf-8")
    rc, out, err = _run(["node", "test.js"], tmp, RUN_TIMEOUT)
    return None if rc == 0 else _failure(item, "node test.js", rc, out, err)


def _check_bash(item: dict, tmp: Path) -> str | None:
    script = tmp / "bin" / "solution.sh"
    work = tmp / "work"
    script.parent.mkdir()
    work.mkdir()
    script.write_text(item["solution"], encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = {**os.environ, "SCRIPT": str(script)}
    rc, out, err = _run(["bash", "-euo", "pipefail", "-c", item["test"]], work, RUN_TIMEOUT, env)
    return None if rc == 0 else _failure(item, "bash test", rc, out, err)


def _check_go(item: dict, tmp: Path) -> str | None:
    build = tmp / "build"
    work = tmp / "work"
    build.mkdir()
    work.mkdir()
    (build / "main.go").write_text(item["solution"], encoding="utf-8")
    env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
    if not any(env.get(name) for name in ("GOCACHE", "XDG_CACHE_HOME", "HOME")):
        # go needs a build cache; share one across items so builds stay fast
        env["GOCACHE"] = str(Path(tempfile.gettempdir()) / "code-items-go-cache")
        env.setdefault("GOPATH", str(Path(tempfile.gettempdir()) / "code-items-gopath"))
    rc, out, err = _run(["go", "build", "-o", "prog", "main.go"], build, BUILD_TIMEOUT, env)
    if rc != 0:
        return _failure(item, "go build", rc, out, err)
    env["BIN"] = str(build / "prog")
    rc, out, err = _run(["bash", "-euo", "pipefail", "-c", item["test"]], work, RUN_TIMEOUT, env)
    return None if rc == 0 else _failure(item, "go test script", rc, out, err)


CHECKERS = {"python": _check_python, "javascript": _check_javascript, "bash": _check_bash, "go": _check_go}


def _missing_fields(item: dict) -> list[str]:
    language = item.get("language")
    if language not in REQUIRED:
        return [f"language {language!r} (expected one of {sorted(REQUIRED)})"]
    return [name for name in REQUIRED[language] if not isinstance(item.get(name), str) or not item[name].strip()]


def _toolchain_missing(language: str) -> bool:
    tool = TOOLCHAIN.get(language)
    return tool is None or (tool != sys.executable and shutil.which(tool) is None)


def _check(item: dict) -> str | None:
    """Run one item; returns None on success or a failure message naming the item."""
    missing = _missing_fields(item)
    if missing:
        return f"{item.get('id')} ({item['_where']}): missing or empty fields: {', '.join(missing)}"
    with tempfile.TemporaryDirectory(prefix="code-item-") as tmp:
        try:
            return CHECKERS[item["language"]](item, Path(tmp))
        except OSError as error:
            return f"{item['id']} ({item['_where']}): could not run: {error}"


@pytest.fixture(scope="session")
def code_results(request: pytest.FixtureRequest) -> dict[str, str | None]:
    """Results of every *selected* item, computed once in parallel subprocesses."""
    selected = [it.callspec.params["item"] for it in request.session.items
                if getattr(it, "originalname", None) == "test_code_item" and hasattr(it, "callspec")]
    runnable = [item for item in selected
                if item.get("language") in REQUIRED and not _toolchain_missing(item["language"])]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return dict(zip((item["_where"] for item in runnable), pool.map(_check, runnable)))


def test_code_files_exist() -> None:
    assert ITEMS, f"no code items found under {CODE_DIR}"


def test_code_item_ids_are_unique() -> None:
    ids = [item.get("id") for item in ITEMS]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate ids: {duplicates}"


@pytest.mark.parametrize("item", ITEMS, ids=[str(item.get("id")) for item in ITEMS])
def test_code_item(item: dict, code_results: dict[str, str | None]) -> None:
    language = item.get("language")
    if language in REQUIRED and _toolchain_missing(language):
        # CI installs every toolchain (.ci/run), so there a missing one is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(f"{TOOLCHAIN[language]} is not installed; .ci/run should have installed it")
        pytest.skip(f"{TOOLCHAIN[language]} is not installed")
    if item["_where"] in code_results:
        failure = code_results[item["_where"]]
    else:  # e.g. an unknown language: report it directly
        failure = _check(item)
    assert failure is None, failure
