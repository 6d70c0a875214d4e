"""Checks the compose files against each other and against the brokerbench binary.

Run through compose/validate.sh. For every compose file (alone, and with monitoring.yml under
--profile monitoring):
  1. `docker-compose config -q` accepts it;
  2. every environment variable of an ingress/subscriber service is one the binary accepts
     (the `[env: NAME=]` lines of `brokerbench ingress|subscriber --help`, or `[env: NAME]` for
     a hidden value, plus RUST_LOG and RUST_BACKTRACE), and values of options with possible values are among them;
  3. every published port maps to a port its service listens on;
  4. every address a brokerbench service is given (NATS_URL, AMQP_URL, PUBSUB_EMULATOR_HOST,
     REDIS_URL, KAFKA_BROKERS, MONGODB_URI, the ingress's BB_GRPC_ADDR; each of a comma-separated
     list) names a service of the same file and a port that service listens on; each middleware a
     service uses has its address set (the defaults are loopback); listen addresses (BB_LISTEN, a
     gRPC subscriber's BB_GRPC_ADDR) bind 0.0.0.0;
  5. Prometheus scrapes each brokerbench service, on the port it listens on;
  6. the middlewares are those of the binary, each has its compose/<middleware>.yml, and
     all.yml's ingress publishes through every one of them, each with its subscriber;
  7. every image (of each configuration, and each FROM of the Dockerfile) is pinned to an exact
     version: a tag with major.minor.patch (Debian: major.minor, its point release) or a digest,
     never `latest`, a bare major (`:7`), a major.minor (`:2.10-alpine`) or a word
     (`:emulators`); only brokerbench:local, built here, is exempt;
  8. credentials beyond loopback: MongoDB, RabbitMQ (management) and Grafana wait for the
     bind-guard service, which passes on the default BB_BIND (127.0.0.1) with no credentials
     given, refuses BB_BIND=0.0.0.0 naming every BB_*_PASSWORD not set, and passes once they
     are, when every service gets them (the guard's script is run here, as compose would).
The middlewares and their address variables come from one table, MIDDLEWARES.
Exits non-zero with one line per problem.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import yaml

from checks.compose import COMPOSE_DIR, REPO, compose_cmd, compose_config, env_of, port_of, published_targets, role_of
from checks.credentials import check_credentials
from checks.pins import check_dockerfile, check_images, check_pin_rule
from checks.report import problem, problems

MONITORING = COMPOSE_DIR / "monitoring.yml"
ALL_FILE = COMPOSE_DIR / "all.yml"
GENERIC_ENV = {"RUST_LOG", "RUST_BACKTRACE"}
# Every middleware brokerbench has, in its order, with the variable that gives brokerbench the
# address of its broker (grpc has none: the ingress's BB_GRPC_ADDR is the gRPC subscriber).
MIDDLEWARES: dict[str, str] = {
    "grpc": "BB_GRPC_ADDR",
    "nats": "NATS_URL",
    "rabbitmq": "AMQP_URL",
    "pubsub": "PUBSUB_EMULATOR_HOST",
    "redis": "REDIS_URL",
    "kafka": "KAFKA_BROKERS",
}
# the address variables that point at another service, whichever role reads them (a gRPC
# subscriber's BB_GRPC_ADDR is where it listens, so it is checked apart)
ADDRESS_VARS = (*(v for m, v in MIDDLEWARES.items() if m != "grpc"), "MONGODB_URI")


# ------------------------------------------------------------------ the binary's contract


def brokerbench_bin() -> Path:
    explicit = os.environ.get("BROKERBENCH_BIN")
    p = Path(explicit) if explicit else Path(os.environ.get("CARGO_TARGET_DIR") or "target") / "debug" / "brokerbench"
    return p if p.is_absolute() else REPO / p


class Options:
    """What `brokerbench <role> --help` says: env names, defaults and possible values."""

    def __init__(self, help_text: str) -> None:
        self.env: dict[str, dict] = {}
        blocks = re.split(r"\n(?=\s{2,6}(?:-\w, )?--[\w-]+)", help_text)
        for block in blocks:
            m = re.search(r"\[env: ([A-Z0-9_]+)[=\]]", block)
            if not m:
                continue
            info: dict = {"values": None, "default": None}
            pv = re.search(r"\[possible values: ([^\]]+)\]", block)
            if pv:
                info["values"] = {v.strip() for v in pv.group(1).split(",")}
            else:
                long_form = re.findall(r"^\s+- ([\w-]+):", block, re.M)
                if "Possible values:" in block and long_form:
                    info["values"] = set(long_form)
            d = re.search(r"\[default: ([^\]]*)\]", block)
            if d:
                info["default"] = d.group(1)
            self.env[m.group(1)] = info


def load_contract(binary: Path) -> dict[str, Options] | None:
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        problem(f"brokerbench binary not found at {binary}: build it with `cargo build -p brokerbench` "
                "(or set BROKERBENCH_BIN); the environment checks need its --help")
        return None
    out = {}
    for role in ("ingress", "subscriber"):
        r = subprocess.run([str(binary), role, "--help"], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            problem(f"`{binary} {role} --help` failed ({r.returncode}): {r.stderr.strip()[:300]}")
            return None
        out[role] = Options(r.stdout)
        if not out[role].env:
            problem(f"`{binary} {role} --help` lists no [env: ...] names")
            return None
    return out


# ------------------------------------------------------------------ what listens where


def listening_ports(name: str, svc: dict, contract: dict[str, Options] | None) -> set[int] | None:
    image = str(svc.get("image", ""))
    cmd = svc.get("command") or []
    cmd = shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]
    env = env_of(svc)
    role = role_of(svc)
    if role:
        default = contract[role].env.get("BB_LISTEN", {}).get("default") if contract else None
        listen = env.get("BB_LISTEN") or default or ""
        ports = {p for p in [port_of(listen)] if p}
        if role == "subscriber" and env.get("BB_MIDDLEWARE") == "grpc":
            grpc = env.get("BB_GRPC_ADDR") or (contract["subscriber"].env.get("BB_GRPC_ADDR", {}).get("default")
                                               if contract else "") or ""
            if port_of(grpc):
                ports.add(port_of(grpc))
        return ports
    if image.startswith("mongo:") or image == "mongo":
        return {27017}
    if image.startswith("nats:") or image == "nats":
        ports = {4222, 6222}
        for i, a in enumerate(cmd):
            if a in ("-m", "--http_port") and i + 1 < len(cmd):
                ports.add(int(cmd[i + 1]))
            if a in ("-p", "--port") and i + 1 < len(cmd):
                ports.discard(4222)
                ports.add(int(cmd[i + 1]))
        return ports
    if image.startswith("rabbitmq:"):
        return {5672, 15672} if "management" in image else {5672}
    if image.startswith("redis:") or image == "redis":
        for i, a in enumerate(cmd):
            if a == "--port" and i + 1 < len(cmd):
                return {int(cmd[i + 1])}
        return {6379}
    if image.startswith("apache/kafka:"):
        listeners = env.get("KAFKA_LISTENERS") or "PLAINTEXT://:9092"
        return {p for p in (port_of(a) for a in listeners.split(",")) if p}
    if "google-cloud-cli" in image or "cloud-sdk" in image:
        for a in cmd:
            if a.startswith("--host-port="):
                return {p for p in [port_of(a.split("=", 1)[1])] if p}
        return {8085}
    if image.startswith("prom/prometheus"):
        for a in cmd:
            if a.startswith("--web.listen-address="):
                return {p for p in [port_of(a.split("=", 1)[1])] if p}
        return {9090}
    if image.startswith("grafana/"):
        return {int(env.get("GF_SERVER_HTTP_PORT", "3000"))}
    problem(f"{name}: don't know which ports image {image!r} listens on (teach compose/validate.py)")
    return None


# ------------------------------------------------------------------ the checks


def middlewares_of(role: str, env: dict[str, str]) -> list[str]:
    """The middlewares a brokerbench service uses: the ingress's BB_MIDDLEWARES, a subscriber's
    BB_MIDDLEWARE."""
    value = env.get("BB_MIDDLEWARES" if role == "ingress" else "BB_MIDDLEWARE", "")
    return [m.strip() for m in value.split(",") if m.strip()]


def check_config(label: str, cfg: dict, contract: dict[str, Options] | None) -> None:
    services: dict = cfg.get("services") or {}
    listens = {name: listening_ports(name, svc, contract) for name, svc in services.items()}

    for name, svc in services.items():
        # published ports
        for spec, target in published_targets(svc):
            ports = listens.get(name)
            if ports is not None and target not in ports:
                problem(f"{label}: {name} publishes {spec}, but listens on {sorted(ports)}")

        role = role_of(svc)
        if not role:
            continue
        env = env_of(svc)
        if contract:
            accepted = contract[role].env
            for var, value in env.items():
                if var in GENERIC_ENV:
                    continue
                if var not in accepted:
                    problem(f"{label}: {name} ({role}) sets {var}, which `brokerbench {role} --help` does not accept")
                    continue
                allowed = accepted[var]["values"]
                if allowed:
                    vals = [v.strip() for v in value.split(",")] if var == "BB_MIDDLEWARES" else [value]
                    bad = [v for v in vals if v not in allowed]
                    if bad:
                        problem(f"{label}: {name} sets {var}={value}: {bad} not in {sorted(allowed)}")
        # listen addresses
        listen = env.get("BB_LISTEN", "")
        if not listen.startswith("0.0.0.0:"):
            problem(f"{label}: {name} must listen on 0.0.0.0 inside compose (BB_LISTEN={listen or 'unset'})")
        if role == "subscriber" and env.get("BB_MIDDLEWARE") == "grpc":
            if not env.get("BB_GRPC_ADDR", "").startswith("0.0.0.0:"):
                problem(f"{label}: {name} is the gRPC subscriber; BB_GRPC_ADDR must be 0.0.0.0:PORT")
        # addresses of other services
        targets = [v for v in ADDRESS_VARS if v in env]
        for m in middlewares_of(role, env):
            if m not in MIDDLEWARES:
                problem(f"{label}: {name} uses middleware {m!r}, which compose/validate.py does not know "
                        "(add it to MIDDLEWARES)")
                continue
            var = MIDDLEWARES[m]
            if role == "subscriber" and m == "grpc":
                continue  # its BB_GRPC_ADDR is where it listens, checked above
            if var not in env:
                verb = "publishes through" if role == "ingress" else "subscribes through"
                problem(f"{label}: {name} {verb} {m} but sets no {var} (default is loopback)")
        if role == "ingress" and "BB_GRPC_ADDR" in env:
            targets.append("BB_GRPC_ADDR")
        for var in targets:
            for value in env[var].split(","):
                u = urlparse(value if "://" in value else f"x://{value}")
                host, port = u.hostname, u.port
                if host not in services:
                    problem(f"{label}: {name} {var}={value} names {host!r}, not a service of this file")
                    continue
                ports = listens.get(host)
                if ports is not None and port is not None and port not in ports:
                    problem(f"{label}: {name} {var}={value}: {host} listens on {sorted(ports)}, not {port}")

    # Prometheus targets
    if "prometheus" in services:
        prom = yaml.safe_load((COMPOSE_DIR / "prometheus" / "prometheus.yml").read_text())
        scraped: set[str] = set()
        for job in prom.get("scrape_configs", []):
            for sd in job.get("dns_sd_configs", []):
                for n in sd.get("names", []):
                    scraped.add(n)
                    if n in services and listens.get(n) is not None and sd.get("port") not in listens[n]:
                        problem(f"{label}: prometheus job {job['job_name']} scrapes {n}:{sd.get('port')}, "
                                f"but {n} listens on {sorted(listens[n])}")
        for name, svc in services.items():
            if role_of(svc) and name not in scraped:
                problem(f"{label}: prometheus scrapes no {name} (compose/prometheus/prometheus.yml)")


def check_middlewares(contract: dict[str, Options] | None) -> None:
    """MIDDLEWARES against the binary, and a compose file per middleware."""
    if contract:
        known = contract["subscriber"].env.get("BB_MIDDLEWARE", {}).get("values")
        if known is None:
            problem("`brokerbench subscriber --help` lists no possible values of BB_MIDDLEWARE")
        else:
            for m in sorted(known - MIDDLEWARES.keys()):
                problem(f"brokerbench has middleware {m!r}; add it to MIDDLEWARES in compose/validate.py "
                        f"and give it compose/{m}.yml and a part in all.yml")
            for m in sorted(MIDDLEWARES.keys() - known):
                problem(f"compose/validate.py lists middleware {m!r}, which brokerbench does not have")
    for m in MIDDLEWARES:
        if not (COMPOSE_DIR / f"{m}.yml").exists():
            problem(f"no compose/{m}.yml for middleware {m}")


def check_all_file(label: str, cfg: dict) -> None:
    """all.yml runs every middleware: the ingress publishes through each, a subscriber stores it."""
    ingress: set[str] = set()
    subscribers: set[str] = set()
    for svc in (cfg.get("services") or {}).values():
        role = role_of(svc)
        if role == "ingress":
            ingress.update(middlewares_of(role, env_of(svc)))
        elif role == "subscriber":
            subscribers.update(middlewares_of(role, env_of(svc)))
    for m in MIDDLEWARES:
        if m not in ingress:
            problem(f"{label}: the ingress does not publish through {m} (BB_MIDDLEWARES)")
        if m not in subscribers:
            problem(f"{label}: no subscriber with BB_MIDDLEWARE={m}")


def main() -> int:
    binary = brokerbench_bin()
    print(f"brokerbench contract from {binary}")
    contract = load_contract(binary)
    if contract:
        for role, opts in contract.items():
            print(f"  {role}: {', '.join(sorted(opts.env))}")
    check_middlewares(contract)
    check_pin_rule()
    check_dockerfile()
    cmd = compose_cmd()
    stacks = sorted(p for p in COMPOSE_DIR.glob("*.yml") if p != MONITORING)
    if not stacks:
        problem("no compose files in compose/")
    combos: list[tuple[list[Path], list[str]]] = []
    for f in stacks:
        combos.append(([f], []))
        if MONITORING.exists():
            combos.append(([f, MONITORING], ["monitoring"]))
    for files, profiles in combos:
        label = " + ".join(f.name for f in files) + (f" (--profile {','.join(profiles)})" if profiles else "")
        print(label)
        cfg = compose_config(cmd, files, profiles)
        if cfg is not None:
            check_config(label, cfg, contract)
            check_images(label, cfg)
            check_credentials(cmd, files, profiles, label, cfg)
            if files[0] == ALL_FILE:
                check_all_file(label, cfg)
    if problems:
        print(f"\ncompose/validate: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"\ncompose/validate: {len(combos)} configurations ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
