#!/usr/bin/env bash
# Installs what islet's demo and tests need, from the registries a Debian 12 machine reaches:
# Debian packages (root only), and the pinned test bed built from Go modules (test/k8s/go.mod:
# Kubernetes, etcd, containerd, cri-tools, cnitool, CNI reference plugins) into .k8s/bin.
# Idempotent: what is already there is skipped, so `npm test` and `npm run demo` call it every time.
# Prints each step's time.
#
#   bash scripts/setup.sh            everything
#   ISLET_SETUP_SKIP_APT=1           leave Debian packages alone (not root, or managed elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
  local name=$1
  shift
  local t0=$SECONDS
  "$@"
  echo "setup: ${name} done in $((SECONDS - t0)) s"
}

# Debian packages: network namespaces and bridges (iproute2), Debian's CNI plugins, iptables for
# kube-proxy, runc and busybox-static for the real node, openssl for the test PKI.
packages=(containernetworking-plugins iproute2 iptables procps kmod iputils-ping openssl runc busybox-static util-linux)

apt_packages() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: Debian packages present"
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages ${missing[*]} (run as root, or: apt-get install ${missing[*]})" >&2
    return
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q "${missing[@]}" >/dev/null
}

go_toolchain() {
  if ! command -v go >/dev/null 2>&1; then
    echo "setup: Go is needed to build the test bed (Go 1.26; do not use Debian's golang-go 1.19)" >&2
    exit 1
  fi
  go version
}

start=$SECONDS
if [ "${ISLET_SETUP_SKIP_APT:-}" != 1 ]; then step "Debian packages" apt_packages; fi
step "Go toolchain" go_toolchain
step "pinned test bed (npm run k8s:build)" node scripts/k8s-build.mjs
echo "setup: total $((SECONDS - start)) s"
