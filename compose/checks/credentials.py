"""Credentials beyond loopback (check 8 of compose/validate.py)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from .compose import compose_config, env_of, published_targets
from .report import problem


GUARD = "bind-guard"
# the services whose published ports need credentials beyond loopback, and the password of each
CREDENTIALED = {"mongodb": "BB_MONGO_PASSWORD", "rabbitmq": "BB_RABBITMQ_PASSWORD",
                "grafana": "BB_GRAFANA_PASSWORD"}
SECRETS = {var: f"test-{var.lower().replace('_', '-')}-0123456789" for var in CREDENTIALED.values()}


def run_guard(cfg: dict) -> tuple[int, str]:
    """The guard's script, run here as compose would run it (its environment only)."""
    svc = (cfg.get("services") or {})[GUARD]
    argv = [str(a).replace("$$", "$") for a in svc["entrypoint"]]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env_of(svc)}
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30)
    return r.returncode, (r.stdout + r.stderr).strip()


def waits_for_guard(svc: dict) -> bool:
    dep = (svc.get("depends_on") or {})
    return isinstance(dep, dict) and (dep.get(GUARD) or {}).get("condition") == "service_completed_successfully"


def check_credentials(cmd: list[str], files: list[Path], profiles: list[str], label: str, cfg: dict) -> None:
    services: dict = cfg.get("services") or {}
    guarded = [n for n in CREDENTIALED if n in services]
    if not guarded:
        return
    if GUARD not in services:
        problem(f"{label}: no {GUARD} service, but {', '.join(guarded)} publish beyond loopback with BB_BIND")
        return
    for name in guarded:
        if not waits_for_guard(services[name]):
            problem(f"{label}: {name} does not wait for {GUARD} (depends_on, condition service_completed_successfully)")
    needed = sorted(CREDENTIALED[n] for n in guarded)
    given = sorted(v for v in env_of(services[GUARD]) if re.fullmatch(r"BB_[A-Z]*_PASSWORD", v))
    if given != needed:
        problem(f"{label}: {GUARD} checks {given}, but the file publishes services needing {needed}")

    rc, out = run_guard(cfg)
    if rc != 0:
        problem(f"{label}: {GUARD} refuses the default (loopback, no credentials): {out}")
    else:
        print(f"  ok   {GUARD} passes on loopback without credentials")

    public = compose_config(cmd, files, profiles, {"BB_BIND": "0.0.0.0"})
    if public is not None:
        rc, out = run_guard(public)
        missing = [v for v in needed if v not in out]
        if rc == 0 or "publishes beyond this machine" not in out or missing:
            problem(f"{label}: with BB_BIND=0.0.0.0 and no credentials {GUARD} must refuse, naming {needed}; "
                    f"it exited {rc}: {out!r}")
        else:
            print(f"  ok   {GUARD} refuses BB_BIND=0.0.0.0 without credentials: {out}")

    secrets = {v: SECRETS[v] for v in needed}
    given_cfg = compose_config(cmd, files, profiles, {"BB_BIND": "0.0.0.0", **secrets})
    if given_cfg is None:
        return
    rc, out = run_guard(given_cfg)
    if rc != 0:
        problem(f"{label}: with BB_BIND=0.0.0.0 and {', '.join(needed)} set, {GUARD} still refuses: {out}")
    check_credentials_given(label, given_cfg, secrets)
    print(f"  ok   with {', '.join(needed)} set: {GUARD} passes, the services have them")


def check_credentials_given(label: str, cfg: dict, secrets: dict[str, str]) -> None:
    """Every service that needs a password has the one given, and publishes on BB_BIND."""
    services: dict = cfg.get("services") or {}
    expect = {
        "mongodb": ("MONGO_INITDB_ROOT_PASSWORD", "BB_MONGO_PASSWORD"),
        "rabbitmq": ("RABBITMQ_DEFAULT_PASS", "BB_RABBITMQ_PASSWORD"),
        "grafana": ("GF_SECURITY_ADMIN_PASSWORD", "BB_GRAFANA_PASSWORD"),
    }
    for name, (var, secret) in expect.items():
        if name not in services:
            continue
        if env_of(services[name]).get(var) != secrets[secret]:
            problem(f"{label}: {name}'s {var} is not {secret} when it is given")
        for spec, _ in published_targets(services[name]):
            if not spec.startswith("0.0.0.0:"):
                problem(f"{label}: {name} publishes {spec}, not on BB_BIND=0.0.0.0")
    # the clients: every MongoDB and AMQP address carries the password given
    for name, svc in services.items():
        env = env_of(svc)
        if "MONGODB_URI" in env and urlparse(env["MONGODB_URI"]).password != secrets["BB_MONGO_PASSWORD"]:
            problem(f"{label}: {name}'s MONGODB_URI does not carry BB_MONGO_PASSWORD")
        if "AMQP_URL" in env and urlparse(env["AMQP_URL"]).password != secrets.get("BB_RABBITMQ_PASSWORD"):
            problem(f"{label}: {name}'s AMQP_URL does not carry BB_RABBITMQ_PASSWORD")
