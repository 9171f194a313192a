#!/usr/bin/env bash
# Installs, from Debian's packages, the real components the tests and benchmarks start:
# sipp (load and scenario peer), Kamailio with its TLS module (reference proxy and an
# independent TLS peer), openssl, iproute2 (network namespaces), SIPVicious (the scanner
# whose source the scanner stage's fingerprints were read from), and wabt (wat2wasm: a test
# assembles the parser's WebAssembly source and compares it with the bytes it ships).
# Idempotent: packages already present are skipped. Must run as root (CI does).
set -euo pipefail

packages=(sip-tester kamailio kamailio-tls-modules openssl iproute2 procps sipvicious wabt baresip)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-deps: all present (${packages[*]})"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing ${missing[*]}; run this script as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts kamailio as a service on install; the tests start their own instances.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now kamailio >/dev/null 2>&1 || true; fi
pkill -x kamailio >/dev/null 2>&1 || true
echo "install-test-deps: installed ${missing[*]}"
