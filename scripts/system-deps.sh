#!/usr/bin/env bash
# Installs the Debian packages icefloe's tests and demo use, when any is missing.
# rsync + openssh: the mirror; 7zip + xorriso + genisoimage (isoinfo): reading what icefloe
# writes with the standard tools; chromium: the Prefect UI check; systemd and postgresql below.
set -euo pipefail
need=()
command -v rsync >/dev/null || need+=(rsync)
command -v ssh >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v 7zz >/dev/null || need+=(7zip)
command -v xorriso >/dev/null || need+=(xorriso)
command -v isoinfo >/dev/null || need+=(genisoimage)
# par2 (par2cmdline): the PAR2 recovery data on every disc, and the tests' stock repair.
command -v par2 >/dev/null || need+=(par2)
# systemd-analyze: the service units are checked with `verify` (no running systemd needed);
# postgresql: the test of the Prefect server on PostgreSQL starts its own cluster.
command -v systemd-analyze >/dev/null || need+=(systemd)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if [ "${ICEFLOE_WITH_BROWSER:-0}" = 1 ]; then
  command -v chromium >/dev/null || need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "icefloe needs these Debian packages: ${need[*]}" >&2
  echo "install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing ${need[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
