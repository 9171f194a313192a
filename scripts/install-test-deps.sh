#!/usr/bin/env bash
# Installs, from Debian's packages, the real components the tests and benchmarks start:
# sipp (load and scenario peer), Kamailio with its TLS module (reference proxy and an
# independent TLS peer), openssl, iproute2 (network namespaces), SIPVicious (the scanner
# whose source the scanner stage's fingerprints were read from), wabt (wat2wasm: a test
# assembles the parser's WebAssembly source and compares it with the bytes it ships),
# redis-server (the state shared by several sipwarden nodes), ClamAV's clamd with
# clamdscan and Debian's test samples (the content scanner's tests), and nftables (nft: the
# kernel-drop tests, only inside network namespaces they create), Chromium, tshark, dnsmasq
# and rtpengine (see below).
# Idempotent: packages already present are skipped. Must run as root (CI does).
#
# The tests start their own daemons on free loopback ports, so a daemon that a package
# would start (Kamailio) is not wanted. The script never stops, disables or kills a service
# it did not start: a Kamailio already running on this machine, in production or not, is
# left as it is. Instead, for the install's duration, a policy-rc.d (Debian's policy layer,
# see /usr/share/doc/init-system-helpers/README.policy-rc.d.gz) answers 101, "action
# forbidden", so that packages neither start nor restart services; an existing policy-rc.d
# is left untouched. A unit that this install newly enabled (not enabled before it, enabled
# after) is disabled again, so that it does not start at the next boot either.
set -euo pipefail

packages=(sip-tester kamailio kamailio-tls-modules openssl iproute2 procps sipvicious wabt baresip
  clamav-daemon clamav-testfiles clamdscan nftables)
# Redis: the shared state of several sipwarden nodes (state.backend redis).
packages+=(redis-server)
# Chromium: the console's browser tests (driven by playwright-core). tshark: tests that check
# on the wire what left towards the untrusted side (topology hiding, encrypted media).
# dnsmasq: a local DNS server with the zone a routing test writes (RFC 3263 NAPTR/SRV/A).
# rtpengine in userspace mode: the media plane sipwarden can delegate to, and the
# reference its own relay is measured against (not the metapackage, which builds a
# kernel module).
packages+=(chromium tshark dnsmasq rtpengine-daemon rtpengine-utils)
# Units the packages above may enable on install.
daemon_units=(kamailio.service clamav-daemon.service clamav-daemon.socket clamav-freshclam.service nftables.service)
daemon_units+=(redis-server.service dnsmasq.service rtpengine-daemon.service)
policy=/usr/sbin/policy-rc.d
policy_marker='# sipwarden install-test-deps: temporary, removed when the install ends'

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

# "enabled", "disabled", ... or nothing when the unit does not exist or systemctl is absent.
unit_state() {
  if command -v systemctl >/dev/null 2>&1; then
    systemctl is-enabled "$1" 2>/dev/null || true
  fi
}

declare -A state_before=()
for unit in "${daemon_units[@]}"; do
  state_before[$unit]=$(unit_state "$unit")
done

policy_written=0
remove_policy() {
  # Only the file this script wrote: the marker says it is still ours.
  if [ "$policy_written" -eq 1 ] && grep -qxF "$policy_marker" "$policy" 2>/dev/null; then
    rm -f "$policy"
  fi
}
trap remove_policy EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -e "$policy" ] || [ -L "$policy" ]; then
  echo "install-test-deps: $policy exists and is left as it is; services follow its policy" >&2
else
  # noclobber: never replace a file that appeared in the meantime.
  if (set -o noclobber; printf '#!/bin/sh\n%s\nexit 101\n' "$policy_marker" >"$policy") 2>/dev/null; then
    policy_written=1
    chmod 0755 "$policy"
  else
    echo "install-test-deps: cannot write $policy; services follow Debian's default policy" >&2
  fi
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for unit in "${daemon_units[@]}"; do
  if [ "${state_before[$unit]}" != enabled ] && [ "$(unit_state "$unit")" = enabled ]; then
    # Enabled by this install: not started (the policy above), and not at boot either.
    systemctl disable --quiet "$unit" >/dev/null 2>&1 ||
      echo "install-test-deps: cannot disable $unit, which this install enabled" >&2
  fi
done
echo "install-test-deps: installed ${missing[*]}"
