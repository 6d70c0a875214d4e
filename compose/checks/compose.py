"""docker-compose itself, and reading the services of the configuration it renders."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from .report import problem

COMPOSE_DIR = Path(__file__).resolve().parent.parent
REPO = COMPOSE_DIR.parent


def compose_cmd() -> list[str]:
    for cmd in (["docker-compose"], ["docker", "compose"]):
        try:
            if subprocess.run([*cmd, "version"], capture_output=True, timeout=30).returncode == 0:
                return cmd
        except (OSError, subprocess.TimeoutExpired):
            continue
    print("no docker-compose (and no `docker compose`) found", file=sys.stderr)
    sys.exit(2)


def compose_config(cmd: list[str], files: list[Path], profiles: list[str],
                   extra_env: dict[str, str] | None = None) -> dict | None:
    """The configuration docker-compose renders, with the caller's BB_*/COMPOSE_* variables
    left out (and extra_env put in)."""
    args = [*cmd]
    for f in files:
        args += ["-f", str(f)]
    for p in profiles:
        args += ["--profile", p]
    label = " ".join(shlex.quote(a) for a in args[len(cmd):])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BB_", "COMPOSE_"))}
    env.update(extra_env or {})
    given = " ".join(f"{k}={v}" for k, v in (extra_env or {}).items())
    q = subprocess.run([*args, "config", "-q"], capture_output=True, text=True, cwd=REPO, env=env)
    if q.returncode != 0:
        problem(f"`{given + ' ' if given else ''}{' '.join(cmd)} {label} config -q` failed:\n{q.stderr.strip()}")
        return None
    print(f"  ok   {given + ' ' if given else ''}{' '.join(cmd)} {label} config -q")
    r = subprocess.run([*args, "config"], capture_output=True, text=True, cwd=REPO, env=env)
    return yaml.safe_load(r.stdout)


def role_of(svc: dict) -> str | None:
    cmd = svc.get("command") or []
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    image = str(svc.get("image", ""))
    if image.startswith("brokerbench") and cmd and cmd[0] in ("ingress", "subscriber"):
        return cmd[0]
    return None


def port_of(addr: str) -> int | None:
    m = re.search(r":(\d+)$", addr.strip())
    return int(m.group(1)) if m else None


def env_of(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def published_targets(svc: dict) -> list[tuple[str, int]]:
    out = []
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            out.append((f"{p.get('host_ip', '')}:{p.get('published', '')}->{p.get('target')}", int(p["target"])))
        else:
            spec = str(p).split("/")[0]
            target = spec.rsplit(":", 1)[-1]
            if "-" in target:
                problem(f"port range as container port is not supported here: {p}")
                continue
            out.append((str(p), int(target)))
    return out
