#!/usr/bin/env python3
"""Checks manifests rendered by `helm template` from deploy/helm/brokerbench (deploy/check.sh).

  check_rendered.py --middlewares grpc,nats [--kube-version 1.37.0,1.25.0] FILE
  check_rendered.py --self-test --middlewares grpc,nats FILE
  ... [--env-names ingress=FILE --env-names subscriber=FILE]

Every resource is validated offline with kubernetes-validate against the schemas it ships for
each given Kubernetes version, strictly (unknown fields are errors; a kind without a schema is an
error too, not the tool's warning). Then the properties the chart promises:
  - every Deployment: readiness and liveness probes GET /healthz on a named container port,
    resource requests of cpu and memory, components listening on 0.0.0.0;
  - the control token in every container and the MongoDB URI and broker URLs wherever present
    come from a secretKeyRef (never a literal value), naming a key the rendered Secret holds
    when it is the chart's own;
  - one subscriber Deployment per chosen middleware (BB_MIDDLEWARE), none for the others, one
    ingress whose BB_MIDDLEWARES lists exactly the chosen ones;
  - the ingress dials the gRPC subscriber through its Service, on a port that reaches it;
  - every Service selects exactly one Deployment's pods, on a port its containers name;
  - with --env-names (the names `brokerbench ROLE --help` lists, one a line): every variable a
    container of that role gets is one the binary reads (or RUST_LOG, GOOGLE_APPLICATION_CREDENTIALS).
--self-test breaks a good rendering in several ways and fails unless each break is caught.
Exit 0 when all holds, 1 otherwise; problems on stdout.
"""

import argparse
import copy
import functools
import sys

import yaml
from kubernetes_validate import utils as kv

# kubernetes-validate reads and parses a schema file on every call; parse each once
kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)

MIDDLEWARES = ("grpc", "nats", "rabbitmq", "pubsub", "redis", "kafka")
SECRET_ENV = ("BB_CONTROL_TOKEN", "MONGODB_URI", "NATS_URL", "AMQP_URL", "REDIS_URL")
NOT_CLAP_ENV = {"RUST_LOG", "GOOGLE_APPLICATION_CREDENTIALS"}  # read by libraries, not by the CLI


def name_of(doc):
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


def schema_problems(docs, versions):
    problems = []
    for doc, version in ((d, v) for v in versions.split(",") for d in docs):
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            problems.append(f"{name_of(doc)}: schema (Kubernetes {e.version}, strict): {path}: {e.message}")
        except (kv.SchemaNotFoundError, kv.InvalidSchemaError, kv.VersionNotSupportedError) as e:
            problems.append(f"{name_of(doc)}: {e.message}")
        except Exception as e:  # a document the validator cannot even read
            problems.append(f"{name_of(doc)}: cannot validate: {e}")
    return problems


def env_of(container):
    return {e.get("name"): e for e in container.get("env") or []}


def containers(dep):
    return dep["spec"]["template"]["spec"].get("containers") or []


def property_problems(docs, chosen, env_names=None):
    out = []
    deps = [d for d in docs if d.get("kind") == "Deployment"]
    services = [d for d in docs if d.get("kind") == "Service"]
    own_secrets = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Secret"}
    if not deps:
        return ["no Deployment rendered"]

    for dep in deps:
        n = name_of(dep)
        for c in containers(dep):
            port_names = {p.get("name") for p in c.get("ports") or []}
            for probe in ("readinessProbe", "livenessProbe"):
                get = (c.get(probe) or {}).get("httpGet") or {}
                if get.get("path") != "/healthz":
                    out.append(f"{n}: {probe} does not GET /healthz ({get.get('path')!r})")
                elif get.get("port") not in port_names:
                    out.append(f"{n}: {probe} port {get.get('port')!r} is none of the container's ports")
            req = (c.get("resources") or {}).get("requests") or {}
            for r in ("cpu", "memory"):
                if not req.get(r):
                    out.append(f"{n}: no resources.requests.{r}")
            env = env_of(c)
            if "BB_CONTROL_TOKEN" not in env:
                out.append(f"{n}: no BB_CONTROL_TOKEN")
            for var in SECRET_ENV:
                e = env.get(var)
                if e is None:
                    continue
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if "value" in e or not ref:
                    out.append(f"{n}: {var} is not from a secretKeyRef (a literal value)")
                    continue
                secret = own_secrets.get(ref.get("name"))
                if secret is not None and ref.get("key") not in (secret.get("data") or {}):
                    out.append(f"{n}: {var} reads key {ref.get('key')!r} that Secret/{ref.get('name')} lacks")
            listen = (env.get("BB_LISTEN") or {}).get("value", "")
            if not listen.startswith("0.0.0.0:"):
                out.append(f"{n}: BB_LISTEN {listen!r} is not 0.0.0.0:PORT")

    subs, ingresses = {}, []
    for dep in deps:
        for c in containers(dep):
            role = (c.get("args") or [None])[0]
            env = env_of(c)
            if role == "ingress":
                ingresses.append((dep, env))
            elif role == "subscriber":
                mw = (env.get("BB_MIDDLEWARE") or {}).get("value")
                subs.setdefault(mw, []).append(dep)
                if "MONGODB_URI" not in env and (env.get("BB_SINK") or {}).get("value") != "none":
                    out.append(f"{name_of(dep)}: stores into MongoDB without MONGODB_URI")
            else:
                out.append(f"{name_of(dep)}: container runs neither ingress nor subscriber ({role!r})")
            known = (env_names or {}).get(role)
            if known:
                for var in sorted(set(env) - NOT_CLAP_ENV - known):
                    out.append(f"{name_of(dep)}: {var} is no variable `brokerbench {role}` reads")
    for mw, found in subs.items():
        if mw not in chosen:
            out.append(f"subscriber Deployment for {mw!r}, which is not chosen: {name_of(found[0])}")
        elif len(found) > 1:
            out.append(f"{len(found)} subscriber Deployments for {mw}")
    for mw in chosen:
        if mw not in subs:
            out.append(f"no subscriber Deployment for chosen middleware {mw}")

    if len(ingresses) != 1:
        out.append(f"{len(ingresses)} ingress Deployments, want 1")
    for dep, env in ingresses:
        listed = (env.get("BB_MIDDLEWARES") or {}).get("value", "").split(",")
        if sorted(listed) != sorted(chosen):
            out.append(f"{name_of(dep)}: BB_MIDDLEWARES={','.join(listed)}, want exactly {','.join(chosen)}")
        grpc_addr = (env.get("BB_GRPC_ADDR") or {}).get("value")
        if "grpc" in chosen:
            out += grpc_route_problems(grpc_addr, subs.get("grpc") or [], services)
        elif grpc_addr:
            out.append(f"{name_of(dep)}: BB_GRPC_ADDR set though grpc is not chosen")

    for svc in services:
        out += service_problems(svc, deps)
    return out


def pod_labels(dep):
    return dep["spec"]["template"]["metadata"].get("labels") or {}


def selected(svc, deps):
    sel = svc["spec"].get("selector") or {}
    return [d for d in deps if sel and all(pod_labels(d).get(k) == v for k, v in sel.items())]


def service_problems(svc, deps):
    hits = selected(svc, deps)
    if len(hits) != 1:
        return [f"{name_of(svc)}: selects {len(hits)} Deployments, want 1"]
    names = {p.get("name") for c in containers(hits[0]) for p in c.get("ports") or []}
    return [f"{name_of(svc)}: targetPort {p.get('targetPort')!r} is no container port of {name_of(hits[0])}"
            for p in svc["spec"].get("ports") or [] if p.get("targetPort") not in names]


def grpc_route_problems(addr, grpc_deps, services):
    if not addr or ":" not in addr:
        return [f"ingress: BB_GRPC_ADDR {addr!r} is not HOST:PORT"]
    host, port = addr.rsplit(":", 1)
    svc = next((s for s in services if s["metadata"]["name"] == host), None)
    if svc is None:
        return [f"ingress: BB_GRPC_ADDR host {host!r} is no rendered Service"]
    if not grpc_deps or selected(svc, grpc_deps) != grpc_deps[:1]:
        return [f"ingress: BB_GRPC_ADDR Service {host} does not select the grpc subscriber"]
    sp = next((p for p in svc["spec"]["ports"] if str(p.get("port")) == port), None)
    if sp is None:
        return [f"ingress: BB_GRPC_ADDR port {port} is not a port of Service/{host}"]
    c = containers(grpc_deps[0])[0]
    cport = next((p["containerPort"] for p in c.get("ports") or [] if p.get("name") == sp.get("targetPort")), None)
    listen = (env_of(c).get("BB_GRPC_ADDR") or {}).get("value")
    if listen != f"0.0.0.0:{cport}":
        return [f"grpc subscriber listens on {listen!r}, the Service sends to container port {cport}"]
    return []


def check(docs, chosen, version, env_names=None):
    return schema_problems(docs, version) + property_problems(docs, chosen, env_names)


def first(docs, pred):
    return next(d for d in docs if pred(d))


def is_ingress(d):
    return d.get("kind") == "Deployment" and containers(d)[0].get("args") == ["ingress"]


def is_sub(d):
    return d.get("kind") == "Deployment" and containers(d)[0].get("args") == ["subscriber"]


def set_env(dep, name, entry):
    env = containers(dep)[0]["env"]
    env[:] = [e for e in env if e["name"] != name] + [dict(name=name, **entry)]


def self_test(docs, chosen, version, env_names):
    """(what is broken, a phrase the report must contain, how): each must be caught."""
    other = next((m for m in MIDDLEWARES if m not in chosen), None)

    def grpc_wrong_port(ds):
        env = containers(first(ds, is_ingress))[0]["env"]
        addr = next(e for e in env if e["name"] == "BB_GRPC_ADDR")
        addr["value"] = addr["value"].rsplit(":", 1)[0] + ":1"

    def extra_sub(ds):
        dup = copy.deepcopy(first(ds, is_sub))
        dup["metadata"]["name"] += "-extra"
        set_env(dup, "BB_MIDDLEWARE", {"value": other})
        ds.append(dup)

    cases = [
        ("unknown container field (typo)", "'readinessProbee' was unexpected",
         lambda ds: containers(first(ds, is_ingress))[0].update(readinessProbee={})),
        ("replicas not an integer", "spec.replicas: 'many' is not of type",
         lambda ds: first(ds, is_ingress)["spec"].update(replicas="many")),
        ("a kind with no schema", "Couldn't find schema",
         lambda ds: ds.append({"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "x"}})),
        ("control token as a literal value", "BB_CONTROL_TOKEN is not from a secretKeyRef",
         lambda ds: set_env(first(ds, is_sub), "BB_CONTROL_TOKEN", {"value": "0123456789abcdef0123"})),
        ("MongoDB URI as a literal value", "MONGODB_URI is not from a secretKeyRef",
         lambda ds: set_env(first(ds, is_sub), "MONGODB_URI", {"value": "mongodb://u:p@mongodb:27017/"})),
        ("readiness on another path", "readinessProbe does not GET /healthz",
         lambda ds: containers(first(ds, is_sub))[0]["readinessProbe"]["httpGet"].update(path="/ready")),
        ("no resource requests", "no resources.requests.cpu",
         lambda ds: containers(first(ds, is_ingress))[0]["resources"].pop("requests")),
        ("ingress missing a chosen middleware", "BB_MIDDLEWARES=",
         lambda ds: set_env(first(ds, is_ingress), "BB_MIDDLEWARES", {"value": ",".join(chosen[1:]) or other})),
        ("subscriber of a chosen middleware removed", "no subscriber Deployment for chosen",
         lambda ds: ds.remove(first(ds, is_sub))),
    ]
    if other:
        cases.append(("subscriber for an unchosen middleware", "which is not chosen", extra_sub))
    if "grpc" in chosen:
        cases.append(("ingress dialing a port the gRPC Service lacks", "is not a port of Service", grpc_wrong_port))
    if env_names:
        cases.append(("a variable the binary does not read", "BB_ROUTNG is no variable",
                      lambda ds: set_env(first(ds, is_ingress), "BB_ROUTNG", {"value": "all"})))
    failed = 0
    if check(docs, chosen, version, env_names):
        print("self-test FAILED: the unbroken rendering does not pass")
        return 1
    for what, phrase, brk in cases:
        ds = copy.deepcopy(docs)
        brk(ds)
        found = check(ds, chosen, version, env_names)
        caught = any(phrase in p for p in found)
        failed += not caught
        print(f"  {'caught' if caught else 'MISSED'}: {what}"
              + (f" -> {next(p for p in found if phrase in p)}" if caught else f" (got {found})"))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--middlewares", required=True, help="the chosen ones, comma separated")
    ap.add_argument("--kube-version", default="1.37.0", help="comma separated")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--env-names", action="append", default=[], metavar="ROLE=FILE")
    ap.add_argument("file")
    a = ap.parse_args()
    chosen = a.middlewares.split(",")
    bad = [m for m in chosen if m not in MIDDLEWARES]
    if bad:
        sys.exit(f"unknown middleware(s): {bad}")
    with open(a.file) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    env_names = {}
    for spec in a.env_names:
        role, _, path = spec.partition("=")
        with open(path) as f:
            env_names[role] = {line.strip() for line in f if line.strip()}
        if not env_names[role]:
            sys.exit(f"{path}: no variable names for {role}")
    if a.self_test:
        return self_test(docs, chosen, a.kube_version, env_names)
    problems = check(docs, chosen, a.kube_version, env_names)
    for p in problems:
        print(f"  {p}")
    if not problems:
        print(f"{len(docs)} resources valid (Kubernetes {a.kube_version}, strict), properties hold "
              f"for {','.join(chosen)}" + ("; env names known to the binary" if env_names else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
