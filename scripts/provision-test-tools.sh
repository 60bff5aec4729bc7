#!/usr/bin/env bash
# Provisions the tools `npm test` needs beyond node_modules, so that `npm ci && npm test` works on a
# fresh Debian (bookworm) machine. The first step of `npm test`; safe to run any time.
#
#   /usr/bin/python3 with grpc + protobuf, protoc   test/interop (python3-grpcio python3-protobuf protobuf-compiler)
#   promtool                                        test/deploy/observability-assets.test.ts (prometheus)
#   redis-server                                    test/cache, test/e2e: the score cache's shared tier (redis-server)
#   Debian's kubectl 1.20, unpacked in the cache    test/deploy/k8s.test.ts (test/deploy/fetch-kubectl.sh)
#
# Idempotent: when everything is present it only checks, in a fraction of a second. Packages are
# installed with apt-get when running as root, or through `sudo -n` when that works without a
# password; otherwise it prints the one command to run and fails, so that the tests never run
# without their tools (they would fail, not skip, but later and less clearly).
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf 'provision-test-tools: %s\n' "$*"; }

PYTHON=/usr/bin/python3
KUBECTL="${XDG_CACHE_HOME:-$HOME/.cache}/relevance-gateway/kubernetes-client/usr/bin/kubectl"

# ── what is missing (cheap checks only: this runs before every `npm test`)
packages=()
command -v protoc >/dev/null 2>&1 || packages+=(protobuf-compiler)
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
if [ ! -x "$PYTHON" ]; then
  packages+=(python3 python3-grpcio python3-protobuf)
else
  # find_spec, not import: importing grpc costs a few hundred milliseconds.
  read -r has_grpc has_protobuf < <("$PYTHON" -c '
import importlib.util as u
def has(m):
    try:
        return u.find_spec(m) is not None
    except ModuleNotFoundError:
        return False
print(int(has("grpc")), int(has("google.protobuf")))')
  [ "$has_grpc" = 1 ] || packages+=(python3-grpcio)
  [ "$has_protobuf" = 1 ] || packages+=(python3-protobuf)
fi
need_kubectl=0
[ -x "$KUBECTL" ] || need_kubectl=1

if [ ${#packages[@]} -eq 0 ] && [ "$need_kubectl" -eq 0 ]; then
  log "present: protoc, promtool, redis-server, $PYTHON with grpc and protobuf, $KUBECTL"
  exit 0
fi

# ── how to install
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  kubectl_note=""
  [ "$need_kubectl" -eq 0 ] || kubectl_note=" and Debian's kubernetes-client kubectl (test/deploy/fetch-kubectl.sh)"
  log "not a Debian system (no apt-get/dpkg-deb): the tests need the Debian packages ${packages[*]:-}${kubectl_note}" >&2
  exit 1
fi
can_root=1
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  can_root=0
fi

# apt-get needs package lists to find the packages (and fetch-kubectl.sh to download the .deb);
# a fresh machine or container may have none.
wanted=(${packages[@]+"${packages[@]}"})
[ "$need_kubectl" -eq 0 ] || wanted+=(kubernetes-client)
need_update=0
for p in "${wanted[@]}"; do
  apt-cache show --no-all-versions "$p" >/dev/null 2>&1 || need_update=1
done

if [ "$can_root" -eq 0 ]; then
  if [ ${#packages[@]} -gt 0 ]; then
    log "missing ${packages[*]}; not root and no password-less sudo: run \`sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages[*]}\`, then npm test again" >&2
    exit 1
  fi
  if [ "$need_update" -eq 1 ]; then
    log "apt has no list with kubernetes-client; not root and no password-less sudo: run \`sudo apt-get update\`, then npm test again" >&2
    exit 1
  fi
fi

apt() { ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }

if [ "$need_update" -eq 1 ]; then
  log "apt-get update (package lists are missing)"
  apt update -q
fi
if [ ${#packages[@]} -gt 0 ]; then
  log "apt-get install ${packages[*]}"
  apt install -y -q --no-install-recommends "${packages[@]}"
fi
if [ "$need_kubectl" -eq 1 ]; then
  log "unpacking Debian's kubectl into ${KUBECTL%/usr/bin/kubectl} (test/deploy/fetch-kubectl.sh)"
  bash test/deploy/fetch-kubectl.sh
fi
log "done"
