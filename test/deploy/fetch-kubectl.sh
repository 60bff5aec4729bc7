#!/usr/bin/env bash
# Unpacks Debian's kubectl (package kubernetes-client: kubectl 1.20 with kustomize 2.0.3 built in)
# where test/deploy/k8s.test.ts renders the kustomizations with it:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/relevance-gateway/kubernetes-client/usr/bin/kubectl
# (test/deploy/kustomize.ts computes the same path).
#
# Why not `apt-get install kubernetes-client`: this project's machines come with another package's
# /usr/bin/kubectl (Google Cloud SDK's `kubectl`), and dpkg refuses to let kubernetes-client
# overwrite that file, so the install fails. Unpacking the .deb needs neither the install nor root,
# and leaves the machine's own kubectl alone. Needs Debian's apt lists (`apt-get update`).
set -euo pipefail

dest="${XDG_CACHE_HOME:-$HOME/.cache}/relevance-gateway/kubernetes-client"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && apt-get download kubernetes-client)
rm -rf "$dest"
mkdir -p "$dest"
dpkg-deb -x "$work"/kubernetes-client_*.deb "$dest"
"$dest/usr/bin/kubectl" version --client
