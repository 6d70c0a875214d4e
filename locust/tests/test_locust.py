"""Locust against a real brokerbench ingress + NATS subscriber + MongoDB, and case generation."""

from __future__ import annotations

import json

import pytest
from cases import (
    CASE_FIELDS,
    INFECTED_TYPES,
    LOCATIONS,
    STATES,
    CaseGenerator,
    generate,
    load_cases,
    request_body,
    validate_case,
)
from conftest import run_locust


# ------------------------------------------------------------------ against the real pipeline


@pytest.mark.parametrize("cases_per_request", [1, 3])
def test_headless_run_stores_every_accepted_case(nats_pipeline, tmp_path, cases_per_request):
    result = run_locust("locustfile.py", nats_pipeline.ingress_url, tmp_path,
                        "--seed", "11", "--cases-per-request", str(cases_per_request))
    assert result.successes > 0, f"no successful request:\n{result.output[-3000:]}\n{nats_pipeline.logs()}"
    expected = result.successes * cases_per_request
    stored = nats_pipeline.wait_for_count(expected)
    assert stored == expected, (
        f"MongoDB {nats_pipeline.db_name}.cases_nats holds {stored} documents, expected "
        f"{result.successes} successful requests x {cases_per_request} = {expected} "
        f"({result.failures} failed requests)\n{result.failure_report()}\n{result.output[-2000:]}\n{nats_pipeline.logs()}"
    )
    # locustfile.py makes Locust's --csv hold the final counts
    assert (result.csv_requests, result.csv_failures) == (result.requests, result.failures), (
        f"{result.csv_prefix}_stats.csv says {result.csv_requests} requests / {result.csv_failures} "
        f"failures, the run made {result.requests} / {result.failures}"
    )
    doc = nats_pipeline.collection.find_one()
    for field in CASE_FIELDS:
        assert field in doc, f"stored document lacks {field!r}: {doc}"


def test_seed_compat_locustfile_has_no_failures(nats_pipeline, tmp_path):
    result = run_locust("seed_compat_locustfile.py", nats_pipeline.ingress_url, tmp_path)
    assert result.requests > 0, result.output[-3000:]
    assert result.failures == 0, (
        f"{result.failures} of {result.requests} seed-compat requests (no Content-Type) failed; "
        f"the ingress must accept a JSON body without a Content-Type header:\n{result.failure_report()}\n"
        f"{result.output[-1500:]}\n{nats_pipeline.logs()}"
    )
    assert result.returncode == 0, result.output[-3000:]
    stored = nats_pipeline.wait_for_count(result.requests)
    assert stored == result.requests, f"stored {stored}, sent {result.requests}\n{nats_pipeline.logs()}"


# ------------------------------------------------------------------ deterministic generation


def test_same_seed_same_cases():
    assert generate(7, 500) == generate(7, 500)
    assert generate("7/0/0", 50) == generate("7/0/0", 50)
    assert generate(7, 200) != generate(8, 200)
    # a stream is a stream: taking it in pieces gives the same cases
    g = CaseGenerator(7)
    assert g.cases(3) + g.cases(197) == generate(7, 200)


def test_generated_cases_are_valid_and_varied():
    cases = generate(2024, 5000)
    for i, c in enumerate(cases):
        validate_case(c, f"case {i}")
        assert list(c) == list(CASE_FIELDS)
        assert type(c["age"]) is int and 0 <= c["age"] <= 100
    assert {c["location"] for c in cases} == set(LOCATIONS) and len(LOCATIONS) == 22
    assert {c["infectedtype"] for c in cases} == set(INFECTED_TYPES)
    assert {c["state"] for c in cases} == set(STATES)
    assert min(c["age"] for c in cases) <= 5 and max(c["age"] for c in cases) >= 90
    assert len({c["name"] for c in cases}) > 1000


@pytest.mark.parametrize("bad", [
    {"name": "A", "location": "Zacapa", "age": 101, "infectedtype": "imported", "state": "symptomatic"},
    {"name": "A", "location": "Zacapa", "age": 3, "infectedtype": "other", "state": "symptomatic"},
    {"name": "A", "location": "Zacapa", "age": 3, "infectedtype": "imported", "state": "ill"},
    {"name": "A", "location": "Zacapa", "age": "3", "infectedtype": "imported", "state": "symptomatic"},
    {"name": "A", "location": "Zacapa", "age": 3, "infectedtype": "imported"},
    {"name": "A", "location": "Zacapa", "age": 3, "infectedtype": "imported", "state": "symptomatic", "x": 1},
])
def test_validate_case_rejects_bad_shapes(bad):
    with pytest.raises(ValueError):
        validate_case(bad)


def test_request_body_object_or_array():
    one, three = generate(1, 1), generate(1, 3)
    assert json.loads(request_body(one)) == one[0]
    assert json.loads(request_body(three)) == three


def _posted_cases(server) -> list[dict]:
    out: list[dict] = []
    for body in server.bodies:
        parsed = json.loads(body)
        out.extend(parsed if isinstance(parsed, list) else [parsed])
    return out


def test_locustfile_sends_the_same_cases_for_the_same_seed(capture_server, tmp_path):
    """Two one-user Locust runs with one seed post the same case stream; another seed differs."""
    runs = []
    for i, seed in enumerate(["5", "5", "6"]):
        start = len(capture_server.bodies)
        run_dir = tmp_path / f"run{i}"
        run_dir.mkdir()
        result = run_locust("locustfile.py", capture_server.url, run_dir, "--seed", seed,
                            "--cases-per-request", "2", users=1, duration="2s")
        assert result.failures == 0 and result.requests > 10, result.output[-3000:]
        bodies = capture_server.bodies[start:]
        assert all(isinstance(json.loads(b), list) and len(json.loads(b)) == 2 for b in bodies)
        assert all(h.get("Content-Type") == "application/json" for h in capture_server.headers[start:])
        assert not any(_intended(h) for h in capture_server.headers[start:]), "unpaced: no stamp"
        runs.append([c for b in bodies for c in json.loads(b)])
    n = min(len(r) for r in runs)
    assert runs[0][:n] == runs[1][:n]
    assert runs[0][:n] != runs[2][:n]
    assert runs[0][:n] == generate("5/0/0", n)


def _intended(headers: dict) -> int | None:
    value = {k.lower(): v for k, v in headers.items()}.get("x-intended-send-ns")
    return int(value) if value is not None else None


def test_paced_users_stamp_each_request_with_its_intended_send_time(capture_server, tmp_path):
    """With a throughput, a user's requests carry x-intended-send-ns on a fixed schedule (20/s:
    50 ms apart) and none arrives before its intended time; the ingress measures e2e from it."""
    result = run_locust("locustfile.py", capture_server.url, tmp_path, "--throughput-per-user", "20",
                        users=1, duration="2s")
    assert result.failures == 0 and result.requests >= 30, result.output[-3000:]
    stamps = [_intended(h) for h in capture_server.headers]
    assert None not in stamps, capture_server.headers[:3]
    assert {b - a for a, b in zip(stamps, stamps[1:])} == {50_000_000}
    early = [s - t for s, t in zip(stamps, capture_server.arrived_ns) if t < s - 1_000_000]
    assert not early, f"{len(early)} requests arrived more than 1 ms before their intended time"


def test_locustfile_replays_a_cases_file(capture_server, tmp_path):
    cases = generate("replay", 7)
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")
    assert load_cases(str(path)) == cases
    result = run_locust("locustfile.py", capture_server.url, tmp_path, "--cases-file", str(path),
                        users=1, duration="2s")
    assert result.failures == 0 and result.requests > 7, result.output[-3000:]
    sent = _posted_cases(capture_server)
    assert sent[: 2 * len(cases)] == cases + cases  # in file order, wrapping around


def test_locustfile_rejects_bad_options(tmp_path):
    result = run_locust_expect_exit(tmp_path, "--cases-per-request", "0")
    assert result != 0


def run_locust_expect_exit(tmp_path, *extra: str) -> int:
    import subprocess
    import sys

    from conftest import LOCUST_DIR

    proc = subprocess.run([sys.executable, "-m", "locust", "-f", str(LOCUST_DIR / "locustfile.py"),
                           "--headless", "-u", "1", "-t", "1s", "-H", "http://127.0.0.1:9", *extra],
                          capture_output=True, text=True, timeout=60)
    assert "--cases-per-request must be at least 1" in proc.stdout + proc.stderr
    return proc.returncode
