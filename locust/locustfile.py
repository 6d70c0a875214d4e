"""Locust load for the brokerbench ingress: POST / with infection cases as JSON.

    locust -f locust/locustfile.py -H http://127.0.0.1:8080                      # web UI on :8089
    locust -f locust/locustfile.py -H http://127.0.0.1:8080 --headless -u 50 -r 10 -t 1m --csv out/run
    locust -f locust/locustfile.py --master ...   /   locust -f locust/locustfile.py --worker ...

Options (also in the web UI's "Custom parameters", and as environment variables):
    --seed N               seed of the deterministic case generator (BB_LOCUST_SEED, default 1)
    --cases-per-request N  1: the body is one case object; N > 1: a JSON array of N cases
                           (BB_LOCUST_CASES_PER_REQUEST, default 1)
    --cases-file PATH      replay cases from a JSON array file instead of generating them
                           (BB_LOCUST_CASES_FILE); `python locust/cases.py --seed 7 -n 1000`
                           writes one

Each user draws from its own generator seeded with (seed, worker index, user number), so a run
with the same seed, user count and worker layout sends the same cases. A replay file is walked in
order by all users of a process together, wrapping around at its end.

A request succeeds when the ingress answers 202 with {"accepted": n, "ids": [...n ids]} for the n
cases sent; anything else is counted as a failure with the reason.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
import time

import gevent
from locust import FastHttpUser, events, task

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import CaseGenerator, load_cases, request_body  # noqa: E402

log = logging.getLogger("brokerbench.locust")

DEFAULT_HOST = "http://127.0.0.1:8080"
# The ingress files a case by this time and measures its e2e from it (nanoseconds since the epoch).
INTENDED_SEND_HEADER = "x-intended-send-ns"


@events.init_command_line_parser.add_listener
def _add_arguments(parser):
    group = parser.add_argument_group("brokerbench", "Infection cases posted to the ingress")
    group.add_argument(
        "--seed",
        type=int,
        default=1,
        env_var="BB_LOCUST_SEED",
        help="Seed of the deterministic case generator (default 1)",
    )
    group.add_argument(
        "--cases-per-request",
        type=int,
        default=1,
        env_var="BB_LOCUST_CASES_PER_REQUEST",
        help="Cases per POST: 1 sends one JSON object, N > 1 a JSON array of N cases (default 1)",
    )
    group.add_argument(
        "--cases-file",
        type=str,
        default="",
        env_var="BB_LOCUST_CASES_FILE",
        help="Replay cases from this JSON array file instead of generating them",
    )
    group.add_argument(
        "--throughput-per-user",
        type=float,
        default=0.0,
        env_var="BB_LOCUST_THROUGHPUT_PER_USER",
        help="Requests per second each user sends on a fixed schedule, each stamped with its intended "
        "send time (x-intended-send-ns); 0 = as fast as answers come, unstamped",
    )


class _Options:
    """The brokerbench options as given, with defaults when Locust runs as a library."""

    def __init__(self, parsed) -> None:
        self.seed = int(getattr(parsed, "seed", 1) or 0)
        self.cases_per_request = int(getattr(parsed, "cases_per_request", 1) or 0)
        self.cases_file = getattr(parsed, "cases_file", "") or ""
        self.throughput_per_user = float(getattr(parsed, "throughput_per_user", 0.0) or 0.0)
        if self.cases_per_request < 1:
            raise ValueError(f"--cases-per-request must be at least 1, got {self.cases_per_request}")


class _Replay:
    """A replay file shared by the users of one process: walked in order, wrapping around."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.cases = load_cases(path)
        self._cursor = itertools.count()
        self._lock = threading.Lock()

    def take(self, n: int) -> list[dict]:
        with self._lock:
            idx = [next(self._cursor) for _ in range(n)]
        return [self.cases[i % len(self.cases)] for i in idx]


_replay: _Replay | None = None
_user_numbers = itertools.count()


def _prepare(environment) -> _Options:
    """Validate the options and (re)load the replay file if one is given."""
    global _replay
    opts = _Options(environment.parsed_options)
    if opts.cases_file:
        if _replay is None or _replay.path != opts.cases_file:
            _replay = _Replay(opts.cases_file)
            log.info("replaying %d cases from %s", len(_replay.cases), opts.cases_file)
    else:
        _replay = None
    return opts


@events.init.add_listener
def _on_init(environment, **_kwargs):
    # Fail fast on bad options in the process where they were given (the web UI can change
    # them later; test_start validates again).
    if environment.parsed_options is None:
        return
    try:
        _prepare(environment)
    except (OSError, ValueError) as e:
        log.error("brokerbench locustfile: %s", e)
        sys.exit(2)


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    from locust.runners import MasterRunner

    if isinstance(environment.runner, MasterRunner):
        return  # the master sends no requests; workers check their own copy
    _prepare(environment)


@events.test_stop.add_listener
def _on_test_stop(environment, **_kwargs):
    # Locust rewrites the --csv files once a second and does not write them again at exit, so a
    # headless run's final second would be missing from <prefix>_stats.csv. After the users have
    # stopped, give the CSV writer one more pass so the file holds the final counts.
    from locust.runners import WorkerRunner
    from locust.stats import CSV_STATS_INTERVAL_SEC

    opts = environment.parsed_options
    if getattr(opts, "csv_prefix", None) and not isinstance(environment.runner, WorkerRunner):
        gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.25)


class CaseUser(FastHttpUser):
    """Posts infection cases to the ingress as fast as it answers."""

    host = DEFAULT_HOST

    def on_start(self) -> None:
        opts = _prepare(self.environment)
        self.per_request = opts.cases_per_request
        self.request_name = "POST / (1 case)" if self.per_request == 1 else f"POST / ({self.per_request} cases)"
        worker = getattr(self.environment.runner, "worker_index", 0)
        self.generator = CaseGenerator(f"{opts.seed}/{worker}/{next(_user_numbers)}")
        rate = opts.throughput_per_user
        self.interval_ns = round(1e9 / rate) if rate > 0 else None
        self.intended_ns = time.time_ns()

    def wait_time(self) -> float:
        """With a throughput, each user keeps a schedule: it waits for its next intended send
        time, or sends at once when an answer made it late. Each request then carries the time it
        was meant to go (x-intended-send-ns), from which the ingress and the subscriber measure,
        so e2e includes the wait a slow answer imposed on the requests behind it (coordinated
        omission corrected). Locust's own response times start when a request actually left."""
        if self.interval_ns is None:
            return 0.0
        return max(0.0, (self.intended_ns - time.time_ns()) / 1e9)

    def next_batch(self) -> list[dict]:
        if _replay is not None:
            return _replay.take(self.per_request)
        return self.generator.cases(self.per_request)

    @task
    def post_cases(self) -> None:
        batch = self.next_batch()
        n = len(batch)
        headers = {"Content-Type": "application/json"}
        if self.interval_ns is not None:
            headers[INTENDED_SEND_HEADER] = str(self.intended_ns)
            self.intended_ns += self.interval_ns
        with self.client.post(
            "/",
            data=request_body(batch),
            headers=headers,
            name=self.request_name,
            catch_response=True,
        ) as resp:
            if resp.status_code != 202:
                text = (resp.text or "")[:200] if resp.content else ""
                resp.failure(f"HTTP {resp.status_code}: {text}" if resp.status_code else f"no response: {resp.error}")
                return
            try:
                answer = resp.json()
            except ValueError:
                resp.failure(f"202 without a JSON body: {(resp.text or '')[:200]!r}")
                return
            if not isinstance(answer, dict):
                resp.failure(f"202 with an unexpected body: {str(answer)[:200]}")
            elif answer.get("accepted") != n:
                resp.failure(f"accepted {answer.get('accepted')!r} of {n} cases")
            elif not isinstance(answer.get("ids"), list) or len(answer["ids"]) != n:
                resp.failure(f"expected {n} ids, got {answer.get('ids')!r:.200}")
            else:
                resp.success()
