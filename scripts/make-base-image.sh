#!/usr/bin/env bash
# Make (or reuse) a minimal Debian root filesystem for the issuer image's base, where no image registry
# is reachable: `mmdebstrap --variant=minbase` of this machine's Debian release, from the same mirrors
# this machine's apt uses (read from /etc/apt/sources.list.d/ and /etc/apt/sources.list now, never
# written down here). Prints the path of the tar on stdout; progress goes to stderr.
#
#   tar=$(scripts/make-base-image.sh)
#   podman import "$tar" localhost/netid-debian-base:bookworm
#   podman build --build-arg PYTHON_IMAGE=localhost/netid-debian-base:bookworm …
#
# The tar is cached under ${NETID_CACHE_DIR:-~/.cache/netid}/, keyed by the release, the package list
# and the mirror lines, and made anew after NETID_BASE_MAX_AGE_DAYS (default 7) so that security
# updates come in. Needs root (or fakeroot/unshare mode) and mmdebstrap: scripts/ensure-system-deps.sh.
set -euo pipefail

suite=${NETID_BASE_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")}
cache=${NETID_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/netid}
max_age=${NETID_BASE_MAX_AGE_DAYS:-7}
# what python:3.X-slim gives the Dockerfile: python3 with venv, CA certificates, useradd
include="python3,python3-venv,ca-certificates,passwd"

# The host's apt sources for this release (deb822 and one-line files), as one-line entries.
sources=$(python3 - "$suite" <<'PY'
import glob, re, sys

suite = sys.argv[1]
files = sorted(glob.glob("/etc/apt/sources.list.d/*.sources")) + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
files += ["/etc/apt/sources.list"]

def ours(s: str) -> bool:
    return s == suite or s.startswith(suite + "-")

lines = []
for path in files:
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
                continue
            signed = fields.get("signed-by", "")
            opts = f" [signed-by={signed}]" if signed.startswith("/") else ""
            for uri in fields.get("uris", "").split():
                for s in fields.get("suites", "").split():
                    if ours(s):
                        lines.append(f"deb{opts} {uri} {s} {fields.get('components', 'main')}")
    else:
        for line in text.splitlines():
            parts = line.split("#", 1)[0].split()
            if not parts or parts[0] != "deb":
                continue
            rest = parts[1:]
            opts = ""
            if rest and rest[0].startswith("["):
                end = next(i for i, p in enumerate(rest) if p.endswith("]"))
                opts = " " + " ".join(rest[: end + 1])
                rest = rest[end + 1 :]
            if len(rest) >= 2 and ours(rest[1]):
                lines.append(f"deb{opts} {' '.join(rest)}")
if not lines:
    sys.exit(f"no apt sources for {suite} in /etc/apt/sources.list.d/ or /etc/apt/sources.list")
print("\n".join(dict.fromkeys(lines)))
PY
)

key=$(printf '%s\n%s\n%s\n' "$suite" "$include" "$sources" | sha256sum | cut -c1-16)
out="$cache/debian-$suite-minbase-$key.tar"
if [ -s "$out" ] && [ -n "$(find "$out" -mtime -"$max_age" 2>/dev/null)" ]; then
    echo "base rootfs: cached $out" >&2
    echo "$out"
    exit 0
fi

command -v mmdebstrap >/dev/null || { echo "mmdebstrap missing: run scripts/ensure-system-deps.sh" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp --tmpdir="$cache" --suffix=.tar .rootfs.XXXXXX)
trap 'rm -f "$tmp"' EXIT
echo "base rootfs: mmdebstrap $suite ($include) from:" >&2
sed 's/^/  /' <<<"$sources" >&2
start=$SECONDS
# the mirror may be a dated snapshot: its Release files are older than apt would otherwise accept
printf '%s\n' "$sources" | mmdebstrap --quiet --variant=minbase --include="$include" \
    --aptopt='Acquire::Check-Valid-Until "false"' "$suite" "$tmp" - >&2
mv -f "$tmp" "$out"
trap - EXIT
echo "base rootfs: made $out in $((SECONDS - start)) s" >&2
echo "$out"
