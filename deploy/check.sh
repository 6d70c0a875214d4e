#!/usr/bin/env bash
# deploy/check.sh — the Helm chart deploy/helm/brokerbench, checked offline: no cluster, no
# network beyond the first install of the tools. For `make test`.
#
#   1. helm lint --strict: default values and every values example (examples/*.yaml)
#   2. helm template for every example (grpc, nats, rabbitmq, pubsub, redis, kafka, all) and a few
#      variants; each rendering is schema-validated with kubernetes-validate against the
#      Kubernetes 1.37 and 1.25 schemas it ships (the newest, and the oldest the chart's
#      kubeVersion admits), strictly (unknown fields are errors), and its
#      promised properties are checked (deploy/check_rendered.py: /healthz probes, resource
#      requests, control token and MongoDB URI from secretKeyRef, one subscriber per chosen
#      middleware and none other, BB_MIDDLEWARES exactly the chosen ones, and, when the
#      brokerbench binary is there, every variable a container gets one its role reads)
#   3. negative checks: bad values are refused by the chart (values.schema.json, template
#      checks); a rendering let past the chart's schema (--skip-schema-validation) is refused by
#      kubernetes-validate; deliberately broken renderings are refused (check_rendered --self-test)
#
# Installs, when missing or at another version: helm (helm.sh/helm/v4 $HELM_VERSION, `go install`
# into .stack/bin, modules in .stack/go; a few minutes the first time) and kubernetes-validate
# (a venv at .stack/helm-venv from deploy/requirements.txt). Needs Go and python3. Binary for
# the variable names: BROKERBENCH_BIN (then required), else target/release/brokerbench if built.
# `--install-only` stops after the tools (make's prepare step overlaps it with the build).
# Prints one line per check and ends with "deploy: N passed, M failed"; exits 1 on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="$ROOT/deploy/helm/brokerbench"
HELM_MODULE=helm.sh/helm/v4 HELM_VERSION=v4.3.2
KUBE_VERSION=1.37.0 KUBE_VERSIONS=1.37.0,1.25.0   # helm renders for the first; validated against each
BIN="$ROOT/.stack/bin" HELM="$ROOT/.stack/bin/helm"
VENV="$ROOT/.stack/helm-venv" REQ="$ROOT/deploy/requirements.txt"
ALL=grpc,nats,rabbitmq,pubsub,redis,kafka
RELEASE=bb

say() { printf '[deploy/check.sh] %s\n' "$*"; }
die() { printf '[deploy/check.sh] ERROR: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------ tools (idempotent)
GO=$(command -v go || echo /usr/local/go/bin/go)
[[ -x $GO ]] || die "Go is needed to install helm (https://go.dev/dl/)"
helm_module() { [[ -x $HELM ]] && "$GO" version -m "$HELM" 2>/dev/null | awk '$1=="mod"{print $2"@"$3; exit}'; }
if [[ "$(helm_module || true)" != "$HELM_MODULE@$HELM_VERSION" ]]; then
  say "installing helm: go install $HELM_MODULE/cmd/helm@$HELM_VERSION (first time: a few minutes)"
  t0=$SECONDS
  mkdir -p "$BIN"
  log="$ROOT/.stack/helm-install.log"
  # At the lowest priority: `make test` builds the tests meanwhile, and their compile is what
  # the run waits for; this build fills the cores the compile leaves idle.
  if ! GOPATH="$ROOT/.stack/go" GOBIN="$BIN" GOFLAGS=-modcacherw nice -n 19 "$GO" install "$HELM_MODULE/cmd/helm@$HELM_VERSION" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "go install $HELM_MODULE/cmd/helm@$HELM_VERSION failed (whole log: $log)"
  fi
  [[ "$(helm_module || true)" == "$HELM_MODULE@$HELM_VERSION" ]] || die "helm at $HELM is not $HELM_MODULE@$HELM_VERSION"
  say "helm installed in $((SECONDS - t0)) s"
fi
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python ]] || [[ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
  say "preparing $VENV from deploy/requirements.txt"
  [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
  echo "$want" >"$VENV/.requirements.sha256"
fi
PY="$VENV/bin/python"
if [[ ${1:-} == --install-only ]]; then
  exit 0
fi

# ------------------------------------------------------------------ check helpers
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
PASSED=0 FAILED=0 N=0
ok()  { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$*"; }
bad() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$*"; }
indent() { sed 's/^/       /' "$1"; }

# passes WHAT CMD...: CMD must succeed
passes() {
  local what=$1 log="$OUT/log.$((N += 1))"
  shift
  if "$@" >"$log" 2>&1; then ok "$what"; else bad "$what"; indent "$log"; fi
}

# refused WHAT PATTERN CMD...: CMD must fail, saying PATTERN (so it fails for the reason meant)
refused() {
  local what=$1 pattern=$2 log="$OUT/log.$((N += 1))"
  shift 2
  if "$@" >"$log" 2>&1; then
    bad "$what: accepted, should be refused"
  elif grep -qF -- "$pattern" "$log"; then
    ok "$what: refused ($(grep -m1 -F -- "$pattern" "$log" | sed 's/^[[:space:]]*//; s/^Error: execution error at ([^)]*): //' | cut -c1-110))"
  else
    bad "$what: failed, but without '$pattern'"; indent "$log"
  fi
}

template() { "$HELM" template "$RELEASE" "$CHART" --kube-version "$KUBE_VERSION" "$@"; }

# rendered NAME MIDDLEWARES HELM-ARGS...: render, then validate and check the properties
rendered() {
  local name=$1 mws=$2 log="$OUT/log.$((N += 1))" file="$OUT/render.$N.yaml"
  shift 2
  if ! template "$@" >"$file" 2>"$log"; then
    bad "template $name: helm template failed"; indent "$log"; return
  fi
  if "$PY" "$ROOT/deploy/check_rendered.py" --kube-version "$KUBE_VERSIONS" --middlewares "$mws" \
    ${ENV_ARGS[@]+"${ENV_ARGS[@]}"} "$file" >"$log" 2>&1; then
    ok "template $name: $(tail -n1 "$log")"
  else
    bad "template $name: rendered manifests fail validation"; indent "$log"
  fi
}

# the variables each role reads, from its --help ([env: NAME=]), as compose/validate.py does
ENV_ARGS=()
BB="${BROKERBENCH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/brokerbench}"
if [[ -x $BB ]]; then
  for role in ingress subscriber; do
    "$BB" "$role" --help | grep -o '\[env: [A-Z0-9_]*' | sed 's/^\[env: //' | sort -u >"$OUT/env-$role"
    [[ -s $OUT/env-$role ]] || die "$BB $role --help lists no [env: ...] names"
    ENV_ARGS+=(--env-names "$role=$OUT/env-$role")
  done
elif [[ -n ${BROKERBENCH_BIN:-} ]]; then
  die "BROKERBENCH_BIN=$BROKERBENCH_BIN is not an executable"
else
  say "skipping the variable-name check: no $BB (build it, or set BROKERBENCH_BIN)"
fi

say "$("$HELM" version --short 2>/dev/null) ($HELM_MODULE@$HELM_VERSION), kubernetes-validate $("$PY" -m kubernetes_validate --version), Kubernetes $KUBE_VERSIONS schemas; no cluster"

# ------------------------------------------------------------------ 1. lint
passes "lint default values" "$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART"
EXAMPLES=()
for f in "$CHART"/examples/*.yaml; do EXAMPLES+=("$(basename "$f" .yaml)"); done
for m in ${ALL//,/ } all; do
  [[ " ${EXAMPLES[*]} " == *" $m "* ]] || bad "examples/$m.yaml is missing"
done
for m in "${EXAMPLES[@]}"; do
  passes "lint examples/$m.yaml" "$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART" -f "$CHART/examples/$m.yaml"
done
# what `helm install` prints (NOTES.txt), client side only: no cluster is contacted
notes() { local out; out=$("$HELM" install "$RELEASE" "$CHART" --dry-run=client "$@") && grep -q 'Bearer <token>' <<<"$out"; }
passes "install --dry-run=client renders the notes (examples/all.yaml)" notes -f "$CHART/examples/all.yaml"

# ------------------------------------------------------------------ 2. render and validate
for m in "${EXAMPLES[@]}"; do
  mws=$m
  [[ $m == all ]] && mws=$ALL
  rendered "examples/$m.yaml" "$mws" -f "$CHART/examples/$m.yaml"
done
rendered "default values" nats
rendered "pubsub on Google Cloud, key from a Secret" pubsub -f "$CHART/examples/pubsub.yaml" \
  --set pubsub.emulatorHost= --set pubsub.projectId=my-project --set pubsub.credentialsSecret=brokerbench-gcp
rendered "split routing, no store, extra env" nats,redis,grpc --set 'middlewares={nats,redis,grpc}' \
  --set ingress.routing=split --set subscribers.sink=none --set mongodb.uri= \
  --set 'ingress.extraEnv[0].name=BB_MAX_IN_FLIGHT' --set-string 'ingress.extraEnv[0].value=5000'
rendered "all six, release named brokerbench-x, control token given" "$ALL" -f "$CHART/examples/all.yaml" \
  --set controlToken.existingSecret= --set-string controlToken.value=0123456789abcdef0123456789abcdef
RELEASE=brokerbench-x rendered "release name holding the chart's" nats,rabbitmq \
  --set 'middlewares={nats,rabbitmq}' --set rabbitmq.url=amqp://u:p@rabbitmq:5672/%2f

# ------------------------------------------------------------------ 3. negative checks
# the chart's values schema and template checks
refused "replicas not an integer" "/ingress/replicas" template --set ingress.replicas=many
refused "typo in a resource field" "requestz" template --set ingress.resources.requestz.cpu=1
refused "resource requests dropped" "missing property 'requests'" template --set ingress.resources.requests=null
refused "unknown middleware" "/middlewares/1" template --set 'middlewares={nats,mqtt}'
refused "a middleware twice" "are equal" template --set 'middlewares={nats,nats}'
refused "control token too short" "/controlToken/value" template --set controlToken.value=short
refused "control token as literal extraEnv" "/ingress/extraEnv/0/name" template \
  --set 'ingress.extraEnv[0].name=BB_CONTROL_TOKEN' --set-string 'ingress.extraEnv[0].value=0123456789abcdef0123'
refused "two gRPC subscribers" "/subscribers/replicas/grpc" template --set subscribers.replicas.grpc=2
refused "routing single with two middlewares" "routing=single takes exactly one" template \
  --set 'middlewares={nats,redis}' --set ingress.routing=single
refused "rabbitmq without a URL" "rabbitmq is chosen" template --set 'middlewares={rabbitmq}'
refused "kafka brokers without a port" "/kafka/brokers" template --set 'middlewares={kafka}' --set kafka.brokers=kafka
refused "no MongoDB" "set mongodb.uri or mongodb.existingSecret" template --set mongodb.uri=
refused "lint with a bad value" "/ingress/replicas" "$HELM" lint --strict "$CHART" --set ingress.replicas=many
# past the chart's schema, kubernetes-validate must still refuse: proof the validator can fail
skip_schema() { # skip_schema NAME HELM-ARGS...: render without the values schema, then validate
  local file="$OUT/skip-$1.yaml"
  shift
  template --skip-schema-validation "$@" >"$file" &&
    "$PY" "$ROOT/deploy/check_rendered.py" --kube-version "$KUBE_VERSIONS" --middlewares nats "$file"
}
refused "kubernetes-validate: replicas not an integer" "spec.replicas: 'many' is not of type" \
  skip_schema replicas --set ingress.replicas=many
refused "kubernetes-validate: typo in a resource field" "'requestz' was unexpected" \
  skip_schema requestz --set ingress.resources.requestz.cpu=1
# broken renderings of good values: each must be caught (validator and property checks alike)
for m in nats all; do
  mws=$m
  [[ $m == all ]] && mws=$ALL
  log="$OUT/log.$((N += 1))"
  if ! template -f "$CHART/examples/$m.yaml" >"$OUT/self-$m.yaml" 2>"$log"; then
    bad "template examples/$m.yaml for the self-test"; indent "$log"
  elif "$PY" "$ROOT/deploy/check_rendered.py" --self-test --kube-version "$KUBE_VERSIONS" --middlewares "$mws" \
    ${ENV_ARGS[@]+"${ENV_ARGS[@]}"} "$OUT/self-$m.yaml" >"$log" 2>&1; then
    ok "broken renderings of examples/$m.yaml: all $(grep -c '^  caught' "$log") caught"
  else
    bad "broken renderings of examples/$m.yaml: not all caught"; indent "$log"
  fi
done

printf 'deploy: %d passed, %d failed\n' "$PASSED" "$FAILED"
((FAILED == 0))
