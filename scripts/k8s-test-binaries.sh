#!/usr/bin/env bash
# Builds the Kubernetes binaries the operator tests run against a REAL API server, from the Go
# module proxy (nothing prebuilt is downloaded):
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl   (k8s.io/kubernetes)
#   kwok                                                                     (sigs.k8s.io/kwok)
#   helm                                                                     (helm.sh/helm/v3)
#
# Usage: scripts/k8s-test-binaries.sh            prints the directory holding the binaries (last line);
#        kwok's stage file is ../kwok-stages.yaml beside it
#
# The binaries are cached OUTSIDE the repository in
#   ${CHAINNODE_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chainnode}/k8s-<version>/bin
# so only the first run builds (about 15-25 minutes on 2 cores; later runs take a second).
# If KUBEBUILDER_ASSETS names a directory that already holds etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler (controller-runtime's envtest layout, plus the
# others if you have them), those are used and only the missing tools are built.
#
# Why a wrapper module: k8s.io/kubernetes replaces its staging modules (k8s.io/api, k8s.io/apiserver,
# ...) with ./staging/src/..., and replace directives of a dependency are ignored, so
# `go install k8s.io/kubernetes/cmd/...@v` fails. The wrapper requires k8s.io/kubernetes vX.Y.Z and
# replaces every staging module with its published v0.Y.Z. etcd comes from the same build list
# (go.etcd.io/etcd/server/v3 has a main package), so its version is the one Kubernetes tests with.
set -euo pipefail

K8S_VERSION="${CHAINNODE_K8S_VERSION:-v1.36.3}" # needs Go >= 1.26.0 (its go.mod says so)
KWOK_VERSION="${CHAINNODE_KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${CHAINNODE_HELM_VERSION:-v3.19.5}"
# Concurrency of the Go build: the machines have 2 cores shared with other work.
GO_BUILD_PARALLELISM="${CHAINNODE_GO_BUILD_P:-2}"

CACHE_ROOT="${CHAINNODE_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chainnode}"
WORK="$CACHE_ROOT/k8s-$K8S_VERSION"
BIN="$WORK/bin"
mkdir -p "$BIN"

log() { echo "k8s-test-binaries: $*" >&2; }

command -v go >/dev/null || { log "Go is required (go.dev toolchain >= 1.26)"; exit 1; }

# One build at a time per cache (jest workers or two terminals may start this together).
exec 9>"$WORK/.lock"
flock 9

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm; do
    if [[ -x "$KUBEBUILDER_ASSETS/$b" && ! -e "$BIN/$b" ]]; then
      ln -sf "$KUBEBUILDER_ASSETS/$b" "$BIN/$b"
      log "using $KUBEBUILDER_ASSETS/$b"
    fi
  done
fi

have_all() {
  for b in "$@"; do [[ -x "$BIN/$b" ]] || return 1; done
}

export GOFLAGS="-p=$GO_BUILD_PARALLELISM -buildvcs=false -trimpath"
export CGO_ENABLED=0
LDFLAGS="-s -w"

if ! have_all etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; then
  started=$(date +%s)
  MOD="$WORK/wrapper"
  mkdir -p "$MOD"
  log "building Kubernetes $K8S_VERSION binaries in $MOD (first run only)"
  (
    cd "$MOD"
    minor="v0.${K8S_VERSION#v1.}"
    go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
    k8s_mod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
    {
      echo "module chainnode.dev/k8s-test-binaries"
      echo
      grep -E '^go [0-9.]+$' "$k8s_mod"
      grep -E '^godebug ' "$k8s_mod" || true
      echo
      echo "require k8s.io/kubernetes $K8S_VERSION"
      echo
      echo "replace ("
      # Every staging module k8s.io/kubernetes replaces with ./staging/src/<module>.
      grep -oE '^\s*k8s\.io/[a-z0-9./-]+ => \./staging/src/k8s\.io/[a-z0-9./-]+' "$k8s_mod" |
        awk -v v="$minor" '{print "\t" $1 " => " $1 " " v}'
      echo ")"
    } >go.mod
    cat >tools.go <<'EOF'
//go:build tools

// Keeps the commands in the build list; never compiled.
package tools
EOF
    go mod edit -require="go.etcd.io/etcd/server/v3@$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2}' "$k8s_mod")"
    # -mod=mod resolves the build list and writes go.sum for exactly the packages built.
    nice -n 10 go build -mod=mod -ldflags "$LDFLAGS" -o "$BIN/" \
      k8s.io/kubernetes/cmd/kube-apiserver \
      k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl
    nice -n 10 go build -mod=mod -ldflags "$LDFLAGS" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  )
  log "Kubernetes binaries built in $(($(date +%s) - started)) s"
fi

if ! have_all kwok; then
  log "building kwok $KWOK_VERSION"
  GOBIN="$BIN" nice -n 10 go install -ldflags "$LDFLAGS" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi

# kwok needs Stages (what a fake kubelet does to nodes and pods); take the "fast" ones shipped in
# its module: nodes become Ready at once, pods Running and Ready, deleted pods go away.
STAGES="$WORK/kwok-stages.yaml"
if [[ ! -s "$STAGES" ]]; then
  kwok_dir="$(cd "$WORK" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | awk -F'"' '$2=="Dir"{print $4}')"
  {
    for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
      pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      echo "---"
      cat "$kwok_dir/kustomize/stage/$f"
    done
  } >"$STAGES.tmp"
  mv "$STAGES.tmp" "$STAGES"
fi

if ! have_all helm; then
  log "building helm $HELM_VERSION"
  GOBIN="$BIN" nice -n 10 go install -ldflags "$LDFLAGS" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

[[ -s "$STAGES" ]] && have_all etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm || {
  log "some binaries are missing in $BIN"
  exit 1
}
echo "$BIN"
