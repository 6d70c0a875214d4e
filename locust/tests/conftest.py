"""Fixtures for the Locust tests: the brokerbench binary, a real NATS pipeline, Locust runs."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCUST_DIR = REPO / "locust"
sys.path.insert(0, str(LOCUST_DIR))

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
MONGODB_URI = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017/")
STARTUP_TIMEOUT = float(os.environ.get("BB_TEST_STARTUP_TIMEOUT", "60"))


def brokerbench_bin() -> Path:
    explicit = os.environ.get("BROKERBENCH_BIN")
    if explicit:
        p = Path(explicit)
    else:
        p = Path(os.environ.get("CARGO_TARGET_DIR") or "target") / "debug" / "brokerbench"
    return p if p.is_absolute() else REPO / p


def loopback_listener() -> socket.socket:
    """A listening loopback socket on a port the kernel chooses, handed to a brokerbench role open
    (`--listen-fd`), so its port is never released and bound again (another process could take an
    ephemeral port in between)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    s.set_inheritable(True)
    return s


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ------------------------------------------------------------------ the binary and the stack


@pytest.fixture(scope="session")
def bb_bin() -> Path:
    p = brokerbench_bin()
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(
            f"brokerbench binary not found at {p}: build it with `cargo build -p brokerbench` "
            "(or set BROKERBENCH_BIN to its path)",
            pytrace=False,
        )
    return p


def _tcp_ok(url: str, default_port: int) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or default_port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def mongo_client():
    from pymongo import MongoClient

    if not _tcp_ok(MONGODB_URI, 27017):
        pytest.fail(f"MongoDB not reachable at {MONGODB_URI}: run `scripts/stack up` and `. .stack/env`", pytrace=False)
    client = MongoClient(MONGODB_URI, serverSelectionTimeoutMS=5000)
    client.admin.command("ping")
    yield client
    client.close()


@pytest.fixture(scope="session")
def nats_up():
    if not _tcp_ok(NATS_URL, 4222):
        pytest.fail(f"NATS not reachable at {NATS_URL}: run `scripts/stack up` and `. .stack/env`", pytrace=False)


def nats_delete_stream(stream: str) -> None:
    """Best effort: delete a JetStream stream through the plain NATS protocol (no client library)."""
    u = urlparse(NATS_URL)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), timeout=3) as s:
            s.recv(4096)  # INFO
            subject = f"$JS.API.STREAM.DELETE.{stream}"
            s.sendall(
                b'CONNECT {"verbose":false,"pedantic":false,"lang":"python","version":"0"}\r\n'
                + f"SUB _INBOX.bbtest 1\r\nPUB {subject} _INBOX.bbtest 0\r\n\r\nPING\r\n".encode()
            )
            deadline = time.time() + 3
            buf = b""
            while b"MSG _INBOX.bbtest" not in buf and time.time() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
    except OSError:
        pass


# ------------------------------------------------------------------ processes


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def describe(self) -> str:
        return f"{self.name} (exit {self.popen.poll()}), log {self.log}:\n{tail(self.log)}"

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


def start_proc(name: str, argv: list[str], logdir: Path, env: dict | None = None,
               listener: socket.socket | None = None) -> Proc:
    """Starts `argv`; with `listener`, the process serves on that socket (`--listen-fd`)."""
    log = logdir / f"{name}.log"
    fh = open(log, "wb")
    pass_fds: tuple[int, ...] = ()
    if listener is not None:
        argv = [*argv, f"--listen-fd={listener.fileno()}"]
        pass_fds = (listener.fileno(),)
    popen = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env or os.environ.copy(), cwd=REPO, pass_fds=pass_fds)
    fh.close()
    return Proc(name, popen, log)


def wait_healthy(proc: Proc, url: str, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.time() + timeout
    last = ""
    while time.time() < deadline:
        if proc.popen.poll() is not None:
            pytest.fail(f"{proc.name} exited during startup: {proc.describe()}", pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except OSError as e:
            last = str(e)
        time.sleep(0.25)
    pytest.fail(f"{proc.name} not healthy at {url} after {timeout}s ({last}): {proc.describe()}", pytrace=False)


@dataclass
class NatsPipeline:
    """A subscriber and an ingress on NATS JetStream with a unique subject, stream and database."""

    ingress_url: str
    db_name: str
    collection: object
    procs: list[Proc] = field(default_factory=list)

    def count(self) -> int:
        return self.collection.count_documents({})

    def wait_for_count(self, expected: int, timeout: float = 60.0) -> int:
        """Poll until the stored count reaches `expected` (then make sure it stays there)."""
        deadline = time.time() + timeout
        n = self.count()
        while n < expected and time.time() < deadline:
            time.sleep(0.25)
            n = self.count()
        time.sleep(1.0)  # anything beyond `expected` (duplicates) shows up now
        return self.count()

    def logs(self) -> str:
        return "\n\n".join(p.describe() for p in self.procs)


@pytest.fixture
def nats_pipeline(bb_bin, mongo_client, nats_up, tmp_path):
    suffix = uuid.uuid4().hex[:10]
    db_name = f"bbtest_{suffix}"
    subject = f"bbtest.{suffix}.cases"
    stream = f"BBTEST_{suffix.upper()}"
    sub_socket, ing_socket = loopback_listener(), loopback_listener()
    sub_port, ing_port = sub_socket.getsockname()[1], ing_socket.getsockname()[1]
    env = os.environ.copy()
    env.setdefault("RUST_LOG", "info")
    env["NATS_URL"] = NATS_URL
    env["MONGODB_URI"] = MONGODB_URI
    nats_args = ["--nats-subject", subject, "--nats-stream", stream]

    procs: list[Proc] = []
    try:
        sub = start_proc("subscriber", [str(bb_bin), "subscriber", "--middleware", "nats",
                                        "--mongodb-uri", MONGODB_URI, "--mongodb-db", db_name,
                                        *nats_args], tmp_path, env, sub_socket)
        procs.append(sub)
        wait_healthy(sub, f"http://127.0.0.1:{sub_port}/healthz")
        ing = start_proc("ingress", [str(bb_bin), "ingress",
                                     "--middlewares", "nats", "--routing", "single", *nats_args],
                         tmp_path, env, ing_socket)
        procs.append(ing)
        wait_healthy(ing, f"http://127.0.0.1:{ing_port}/healthz")
        yield NatsPipeline(f"http://127.0.0.1:{ing_port}", db_name,
                           mongo_client[db_name]["cases_nats"], procs)
    finally:
        for p in reversed(procs):
            p.stop()
        sub_socket.close()
        ing_socket.close()
        try:
            mongo_client.drop_database(db_name)
        except Exception:  # noqa: BLE001 - cleanup is best effort
            pass
        nats_delete_stream(stream)


# ------------------------------------------------------------------ Locust runs


@dataclass
class LocustResult:
    returncode: int
    requests: int  # exact, from --json-file (written at exit)
    failures: int
    csv_requests: int  # from <prefix>_stats.csv, the "Aggregated" row
    csv_failures: int
    output: str
    csv_prefix: Path

    @property
    def successes(self) -> int:
        return self.requests - self.failures

    def failure_report(self) -> str:
        """Locust's failures CSV: which errors, how often."""
        try:
            return Path(f"{self.csv_prefix}_failures.csv").read_text()
        except OSError:
            return "(no failures file)"


def run_locust(locustfile: str, host: str, tmp_path: Path, *extra: str, users: int = 4,
               duration: str = "5s", timeout: float = 120) -> LocustResult:
    prefix = tmp_path / "locust"
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUST_DIR / locustfile), "--headless",
            "-H", host, "-u", str(users), "-r", str(users), "-t", duration,
            # let in-flight requests finish, so every request the ingress answered is counted
            "--stop-timeout", "10",
            "--csv", str(prefix), "--json-file", str(prefix), "--only-summary", *extra]
    env = os.environ.copy()
    env.pop("LOCUST_LOCUSTFILE", None)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    output = proc.stdout + proc.stderr
    stats_csv, stats_json = Path(f"{prefix}_stats.csv"), Path(f"{prefix}.json")
    if not stats_csv.exists() or not stats_json.exists():
        pytest.fail(f"locust wrote no {stats_csv} / {stats_json} (exit {proc.returncode}):\n{output[-3000:]}",
                    pytrace=False)
    entries = json.loads(stats_json.read_text())
    requests = sum(e["num_requests"] for e in entries)
    failures = sum(e["num_failures"] for e in entries)
    csv_requests = csv_failures = -1
    with open(stats_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                csv_requests, csv_failures = int(row["Request Count"]), int(row["Failure Count"])
    return LocustResult(proc.returncode, requests, failures, csv_requests, csv_failures, output, prefix)


# ------------------------------------------------------------------ a capturing fake ingress


class CaptureServer:
    """A tiny ingress stand-in that records request bodies and answers like the real one."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict] = []
        self.arrived_ns: list[int] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                arrived_ns = time.time_ns()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer._lock:
                    outer.arrived_ns.append(arrived_ns)
                    outer.bodies.append(body)
                    outer.headers.append(dict(self.headers))
                parsed = json.loads(body)
                n = len(parsed) if isinstance(parsed, list) else 1
                out = json.dumps({"accepted": n, "ids": [str(uuid.uuid4()) for _ in range(n)]}).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def capture_server():
    with CaptureServer() as s:
        yield s
