#!/usr/bin/env bash
# Ensure the system packages the test suite needs. Idempotent.
#   - pcscd, vsmartcard-vpcd: the real PC/SC stack the PC/SC backend is tested through
#   - libpcsclite-dev, swig, gcc: to build pyscard
#   - postgresql: a throwaway PostgreSQL server the issuer tests start (initdb/pg_ctl, tests/issuer/pg.py)
#   - softhsm2: the PKCS#11 token the issuer's HSM key store is tested against
#   - podman, runc, uidmap, mmdebstrap: build and run the issuer's container from a locally made Debian base
#   - chromium: the browser tests
# As root on Debian it installs what is missing with apt-get; otherwise it prints the exact command.
# Elsewhere (macOS, other distributions) it says so and exits 1; `make test-fast` needs none of these.
set -euo pipefail

packages=(pcscd vsmartcard-vpcd libpcsclite-dev swig gcc postgresql softhsm2 podman runc uidmap mmdebstrap chromium)

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "system packages: this script knows Debian's package names only: ${packages[*]}" >&2
    echo "  install their equivalents for the real-stack tests (macOS has PC/SC built in; pyscard needs" >&2
    echo "  swig and a C compiler to build); make test-fast needs none of them." >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages: all present (${packages[*]})"
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "system packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    echo "system packages: installed"
else
    echo "system packages missing: ${missing[*]}" >&2
    echo "run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
