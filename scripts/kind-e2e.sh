#!/usr/bin/env bash
# End-to-end run of the operator on a kind cluster (needs Docker, kind, kubectl and helm):
#   scripts/kind-e2e.sh            create the cluster, build and load the image, install the chart,
#                                  apply the sample, wait for Ready, submit a transaction through the
#                                  gateway Service, scale a peer, delete; the cluster is kept
#   KEEP_CLUSTER=0 scripts/kind-e2e.sh   ... and delete the cluster at the end
# It cannot run in this project's CI (no container engine or registry there); the operator
# tests in test/operator run against a real API server built from source instead.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${CLUSTER:-chainnode}"
IMAGE="${IMAGE:-chainnode/chainnode:e2e}"
NS="${NS:-ledger}"
OP_NS="${OP_NS:-chainnode-system}"
TIMEOUT="${TIMEOUT:-600s}"
# How a client submits a transaction; the CLI's `invoke` command is named here in one place so
# it is easy to adjust as the CLI evolves.
INVOKE_ARGS="${INVOKE_ARGS:-invoke kv put e2e-key e2e-value}"
# The peer the client talks to: its pod DNS name is in network.yaml and in its certificate.
GATEWAY_NODE="${GATEWAY_NODE:-sample-org1-peer-0}"

log() { echo "kind-e2e: $*" >&2; }
for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { log "$tool is required"; exit 1; }
done

if ! kind get clusters | grep -qx "$CLUSTER"; then
  log "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --config kind-config.yaml --wait 120s
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

log "building $IMAGE"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"
# postgres:16 for the sidecars: pulled once on the host, loaded into the nodes.
docker pull postgres:16 >/dev/null
kind load docker-image postgres:16 --name "$CLUSTER"

log "installing the operator chart"
helm upgrade --install chainnode-operator charts/chainnode-operator \
  --namespace "$OP_NS" --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
  --wait --timeout "$TIMEOUT"
kubectl -n "$OP_NS" get lease chainnode-operator -o jsonpath='{.spec.holderIdentity}{"\n"}'

log "applying the sample LedgerNetwork"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
sed -e "s#image: chainnode/chainnode:0.1.0#image: $IMAGE\n  imagePullPolicy: Never#" \
  charts/chainnode-operator/samples/ledgernetwork.yaml | kubectl -n "$NS" apply -f -
kubectl -n "$NS" wait --for=condition=Ready ledgernetwork/sample --timeout="$TIMEOUT"
kubectl -n "$NS" get ledgernetwork sample -o wide

log "submitting a transaction through the gateway Service"
# A one-off client pod with the network configuration and org1's client identity, in the layout
# of a network directory, calling the gateway Service.
kubectl -n "$NS" delete pod chainnode-client --ignore-not-found --wait=true
cat <<YAML | kubectl -n "$NS" apply -f -
apiVersion: v1
kind: Pod
metadata:
  name: chainnode-client
spec:
  restartPolicy: Never
  containers:
    - name: client
      image: $IMAGE
      imagePullPolicy: Never
      command: [sh, -c]
      args:
        - >-
          node dist/node/cli/main.js --dir /etc/chainnode --identity org1/client contract deploy kv contracts/kv.js --node $GATEWAY_NODE &&
          node dist/node/cli/main.js --dir /etc/chainnode --identity org1/client $INVOKE_ARGS --node $GATEWAY_NODE
      volumeMounts:
        - { name: network, mountPath: /etc/chainnode, readOnly: true }
  volumes:
    - name: network
      projected:
        sources:
          - configMap: { name: sample-network, items: [{ key: network.yaml, path: network.yaml }] }
          - secret:
              name: sample-org1-client
              items:
                - { key: cert.pem, path: orgs/org1/users/client/cert.pem }
                - { key: key.pem, path: orgs/org1/users/client/key.pem }
YAML
kubectl -n "$NS" wait --for=jsonpath='{.status.phase}'=Succeeded pod/chainnode-client --timeout=120s || {
  kubectl -n "$NS" logs chainnode-client || true
  exit 1
}
kubectl -n "$NS" logs chainnode-client

log "scaling org1 to 2 peers"
kubectl -n "$NS" patch ledgernetwork sample --type=json \
  -p '[{"op":"replace","path":"/spec/organisations/0/peers","value":2}]'
kubectl -n "$NS" wait --for=jsonpath='{.status.desiredPeers}'=3 ledgernetwork/sample --timeout=60s
kubectl -n "$NS" rollout status statefulset/sample-org1-peer --timeout="$TIMEOUT" || true
kubectl -n "$NS" get ledgernetwork sample -o wide

log "deleting the network"
kubectl -n "$NS" delete ledgernetwork sample --wait=true --timeout="$TIMEOUT"
test -z "$(kubectl -n "$NS" get statefulsets,secrets,configmaps,services,pdb -l ledger.chainnode.dev/network=sample -o name)"
log "ok"

if [[ "${KEEP_CLUSTER:-1}" == "0" ]]; then
  kind delete cluster --name "$CLUSTER"
fi
