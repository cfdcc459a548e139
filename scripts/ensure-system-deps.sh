#!/usr/bin/env bash
# Ensure the system packages the test suite needs. Idempotent.
#   - pcscd, vsmartcard-vpcd: the real PC/SC stack the PC/SC backend is tested through
#   - libpcsclite-dev, swig, gcc: to build pyscard
# As root on Debian it installs what is missing with apt-get; otherwise it prints the exact command.
set -euo pipefail

packages=(pcscd vsmartcard-vpcd libpcsclite-dev swig gcc)

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
