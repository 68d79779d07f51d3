"""API benchmarks: create, get and list over HTTP, full stack against a bare FastAPI endpoint.

Aims (issue "REST API, sign-in and access control", item 6): at 8 concurrent clients
(`wrk -t2 -c8` on the same machine) the full stack keeps at least 60% of the throughput of a
bare FastAPI + SQLAlchemy Core endpoint (`bare_app.py`: same table, same run), and a record
rule costs less than 10%. First targets: 500 creates/s, 1,000 reads/s, 450 list pages/s
(filtered, sorted, 25 rows with a count), 10,000 rows/s through the batch endpoint, under
150 MiB resident after the load.

The entity has six fields and one link (`bench.item`). The rule user's rule
(`{supplier: "$user.supplier"}`) admits every seeded row, so that admin and rule user read the
same rows and the figures compare the rule's cost, not a smaller result. Both servers run
under uvicorn in their own process (one worker, warning log level, no access log) on
127.0.0.1; nothing else is contacted. Each figure is the mean of ROUNDS runs interleaved with
the other targets'. BENCH_API_SECONDS (default 10) sets the seconds per figure.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WRK_DIR = HERE / "wrk"
SEED_ROWS = 10_000
SUPPLIERS = 50
BATCH_ROWS = 1_000
SECONDS = int(os.environ.get("BENCH_API_SECONDS", "10"))
WARMUP_SECONDS = 2
ROUNDS = 2  # each figure: SECONDS split into interleaved runs against the three targets
SECRET = "bench-secret-" + "x" * 40

BLUEPRINT = """
blueprint: bench
version: 1.0.0
title: Bench
entities:
  supplier:
    title: name
    fields:
      name: {type: text, required: true, unique: true}
  item:
    title: name
    fields:
      name: {type: text, required: true}
      status: {type: choice, options: [open, closed, draft], index: true}
      amount: {type: money}
      due: {type: date}
      note: {type: text}
      supplier: {type: link, to: supplier}
    indexes: [[status, amount]]
roles:
  supplier_user:
    permissions:
      item: {actions: [read, create], where: {supplier: "$user.supplier"}}
      supplier: [read]
"""

LIST_QUERY = (
    "filter=%7B%22status%22%3A%22open%22%7D&sort=-amount&limit=25&count=true"  # {"status":"open"}
)

Result = tuple[str, float, str]


def full_app() -> Any:
    """The full app on $BENCH_FULL_DB (a uvicorn factory: `bench_api:full_app`)."""
    from appblocks.server.app import create_app
    from appblocks.server.settings import Settings

    return create_app(Settings(db_url=os.environ["BENCH_FULL_DB"], secret_key=SECRET))


# --- set-up -----------------------------------------------------------------------------------


def _prepare(folder: Path) -> tuple[str, str, dict[str, str]]:
    """The full database (installed, seeded, two users) and its copy for the bare app."""
    from appblocks.engine.blueprints import install
    from appblocks.engine.catalog import Catalog
    from appblocks.engine.db import create_engine
    from appblocks.engine.loader import load_blueprint_text
    from appblocks.engine.records import RecordStore
    from appblocks.engine.users import create_user, issue_token

    full_path, bare_path = folder / "full.db", folder / "bare.db"
    engine = create_engine(f"sqlite:///{full_path}")
    try:
        install(engine, load_blueprint_text(BLUEPRINT, "bench.yaml"))
        with engine.begin() as conn:
            store = RecordStore(Catalog.load(conn))
            store.create_many(conn, "bench.supplier", [{"name": f"S{i}"} for i in range(SUPPLIERS)])
            rows = [
                {
                    "name": f"Item {i:06d}",
                    "status": ("open", "closed", "draft")[i % 3],
                    "amount": (i * 7919) % 1_000_000 / 100,
                    "due": (dt.date(2026, 1, 1) + dt.timedelta(days=i % 365)).isoformat(),
                    "note": "seeded",
                    "supplier": 1,  # the rule user's supplier: the rule admits every row
                }
                for i in range(SEED_ROWS)
            ]
            store.create_many(conn, "bench.item", rows, actor="seed")
            create_user(conn, "bench_admin", password=None, roles=["admin"])
            create_user(
                conn,
                "bench_rule",
                password=None,
                roles=["supplier_user"],
                attributes={"supplier": 1},
            )
            tokens = {
                "admin": issue_token(conn, "bench_admin"),
                "rule": issue_token(conn, "bench_rule"),
            }
    finally:
        engine.dispose()
    with sqlite3.connect(full_path) as src:
        src.execute("VACUUM INTO ?", (str(bare_path),))
    return f"sqlite:///{full_path}", f"sqlite:///{bare_path}", tokens


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(factory: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", factory, "--app-dir", str(HERE),
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/openapi.json", timeout=2):
                return
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    raise RuntimeError(f"the server at {url} did not start in {timeout:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- load -------------------------------------------------------------------------------------


def _wrk(url: str, script: str, args: list[str], seconds: int) -> tuple[float, int]:
    """(requests per second, failed requests) of one wrk run."""
    command = [
        "wrk", "-t2", "-c8", f"-d{seconds}s", "--timeout", "30s",
        "-s", str(WRK_DIR / script), url, "--", *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
    text = done.stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", text)
    rate = float(found.group(1)) if found else float("nan")
    failed = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", text))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if socket_errors:
        failed += sum(int(n) for n in socket_errors.groups())
    return rate, failed


KINDS = ("creates/s", "reads/s", "list pages/s")  # as printed; run read-only kinds first
WHO = ("bare", "full admin", "full rule")


def _missing(reason: str) -> list[Result]:
    nan = float("nan")
    out: list[Result] = [
        (f"{who}: {kind} (missing: {reason})", nan, "req/s") for kind in KINDS for who in WHO
    ]
    out.append((f"full admin: batch create (missing: {reason})", nan, "rows/s"))
    out.append((f"full server resident memory after the load (missing: {reason})", nan, "MiB"))
    return out


def _load(kind: str, targets: dict[str, tuple[str, str, str]]) -> dict[str, tuple[float, int]]:
    """(requests/s, failed) per target for one kind of request: a warm-up each, then
    ROUNDS interleaved runs (so that a change in the machine's load hits every target alike)."""
    runs: dict[str, list[tuple[float, int]]] = {who: [] for who in targets}
    scripts = {}
    for who, (base, token, path) in targets.items():
        if kind == "reads/s":
            scripts[who] = ("get.lua", [f"{path}/", token, str(SEED_ROWS)])
        elif kind == "list pages/s":
            query = "status=open&limit=25" if who == "bare" else LIST_QUERY
            scripts[who] = ("list.lua", [f"{path}?{query}", token])
        else:
            scripts[who] = ("create.lua", [path, token, "1"])
        _wrk(base, *scripts[who], WARMUP_SECONDS)
    for _ in range(ROUNDS):
        for who, (base, _token, _path) in targets.items():
            runs[who].append(_wrk(base, *scripts[who], max(1, SECONDS // ROUNDS)))
    return {
        who: (sum(r for r, _ in done) / len(done), sum(f for _, f in done))
        for who, done in runs.items()
    }


def _failed(count: int) -> str:
    return f" [{count:,} FAILED]" if count else ""


def run() -> list[Result]:
    """Every figure of the API benchmark (NaN, marked missing, when wrk is not installed)."""
    if shutil.which("wrk") is None:
        print("  wrk is not installed (make bench installs it with apt-get): API figures skipped")
        return _missing("wrk not installed")
    results: list[Result] = []
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="appblocks-bench-api-") as tmp:
        folder = Path(tmp)
        try:
            t0 = time.perf_counter()
            full_db, bare_db, tokens = _prepare(folder)
            seeded = time.perf_counter() - t0
            env = {
                **os.environ,
                "APPBLOCKS_SECRET": SECRET,
                "APPBLOCKS_VAR": str(folder / "var"),
                "BENCH_FULL_DB": full_db,
                "BENCH_BARE_DB": bare_db,
                "PYTHONDONTWRITEBYTECODE": "1",
                # `appblocks serve` caps glibc's malloc arenas the same way (cli.py).
                "MALLOC_ARENA_MAX": "2",
            }
            full, full_url = _serve("bench_api:full_app", env, folder / "full.log")
            procs.append(full)
            bare, bare_url = _serve("bare_app:create", env, folder / "bare.log")
            procs.append(bare)
            _wait_ready(full, full_url, folder / "full.log")
            _wait_ready(bare, bare_url, folder / "bare.log")

            api = "/api/v1/bench/item"
            targets = {
                "bare": (bare_url, "-", "/items"),
                "full admin": (full_url, tokens["admin"], api),
                "full rule": (full_url, tokens["rule"], api),
            }
            # Reads first, so that every target lists the same rows.
            rates = {
                kind: _load(kind, targets) for kind in ("reads/s", "list pages/s", "creates/s")
            }
            for kind in KINDS:
                for who in WHO:
                    rate, failed = rates[kind][who]
                    results.append((f"{who}: {kind}{_failed(failed)}", rate, "req/s"))
            for kind in KINDS:
                bare_rate, _ = rates[kind]["bare"]
                admin, _ = rates[kind]["full admin"]
                rule, _ = rates[kind]["full rule"]
                results.append(
                    (f"ratio full admin / bare, {kind} (aim >= 0.6)", admin / bare_rate, "x")
                )
                results.append(
                    (f"ratio full rule / full admin, {kind} (aim >= 0.9)", rule / admin, "x")
                )

            for who, base, path, token in (
                ("bare", bare_url, "/items/batch", "-"),
                ("full admin", full_url, f"{api}/batch", tokens["admin"]),
            ):
                args = [path, token, "1", str(BATCH_ROWS)]
                _wrk(base, "batch.lua", args, WARMUP_SECONDS)
                rate, failed = _wrk(base, "batch.lua", args, SECONDS)
                label = f"{who}: batch create, {BATCH_ROWS:,} rows a request{_failed(failed)}"
                results.append((label, rate * BATCH_ROWS, "rows/s"))

            results.append(
                ("full server resident memory after the load", _rss_mib(full.pid), "MiB")
            )
            results.append((f"(set-up: install, seed {SEED_ROWS:,} rows)", seeded, "s"))
        finally:
            for proc in procs:
                _stop(proc)
    return results


if __name__ == "__main__":
    for label, value, unit in run():
        print(f"  {label:<62} {value:>14,.2f} {unit}", flush=True)
