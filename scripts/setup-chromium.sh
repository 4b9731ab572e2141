#!/usr/bin/env bash
# Installs headless Chromium for the browser test of the web UI: Debian's
# `chromium` package at a pinned version, with the libraries it needs that
# the machine lacks, unpacked (`dpkg -x`, no root, nothing installed system
# wide) into a cache outside the clone. Needs only Debian's package mirror
# (`apt-get download`). Idempotent.
#   usage: scripts/setup-chromium.sh     prints the chromium binary's path last
set -euo pipefail
CHROMIUM_VERSION="${KILN_CHROMIUM_VERSION:-156.0.8078.129-1~deb12u1}"
ROOT="${KILN_CHROMIUM_ROOT:-$HOME/.cache/kiln-chromium}/$CHROMIUM_VERSION"
BIN="$ROOT/usr/lib/chromium/chromium"
WRAPPER="$ROOT/chromium"

check() { [ -x "$WRAPPER" ] && "$WRAPPER" --headless --no-sandbox --version >/dev/null 2>&1; }

if check; then
  echo "chromium: cached in $ROOT" >&2
  echo "$WRAPPER"
  exit 0
fi
for tool in apt-get apt-cache dpkg; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "error: the browser test needs Debian's chromium package; '$tool' is missing (Debian or Ubuntu only)" >&2
    exit 1
  }
done

mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9
if ! check; then
  echo "chromium: unpacking Debian's chromium $CHROMIUM_VERSION into $ROOT" >&2
  if ! apt-cache show "chromium=$CHROMIUM_VERSION" >/dev/null 2>&1; then
    echo "error: chromium $CHROMIUM_VERSION is not in this machine's apt lists" \
      "(run 'apt-get update'; if Debian replaced it, pin the version 'apt-cache policy chromium'" \
      "shows in scripts/setup-chromium.sh or set KILN_CHROMIUM_VERSION)" >&2
    exit 1
  fi
  rm -rf "$ROOT" && mkdir -p "$ROOT/debs"
  # The packages apt would add to this machine for chromium: chromium itself
  # and the libraries not installed here. A dry run needs no root.
  mapfile -t pkgs < <(apt-get install -s --no-install-recommends "chromium=$CHROMIUM_VERSION" 2>/dev/null |
    awk '/^Inst /{print $2}')
  [ "${#pkgs[@]}" -gt 0 ] || pkgs=(chromium chromium-common)
  versioned=()
  for p in "${pkgs[@]}"; do
    case "$p" in
      chromium | chromium-common) versioned+=("$p=$CHROMIUM_VERSION") ;;
      *) versioned+=("$p") ;;
    esac
  done
  # As the calling user: the cache folder may not be readable by _apt.
  (cd "$ROOT/debs" && apt-get download -o APT::Sandbox::User="$(id -un)" "${versioned[@]}" >&2)
  for deb in "$ROOT"/debs/*.deb; do dpkg -x "$deb" "$ROOT"; done
  rm -rf "$ROOT/debs"
  arch_lib="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
  cat >"$WRAPPER" <<EOF
#!/bin/sh
# Runs the unpacked chromium with the libraries unpacked next to it.
export LD_LIBRARY_PATH="$ROOT/usr/lib/$arch_lib:$ROOT/usr/lib/$arch_lib/pulseaudio:$ROOT/lib/$arch_lib:$ROOT/usr/lib/chromium\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$BIN" "\$@"
EOF
  chmod +x "$WRAPPER"
  if ! check; then
    echo "error: the unpacked chromium in $ROOT does not start:" >&2
    "$WRAPPER" --headless --no-sandbox --version >&2 || true
    exit 1
  fi
fi
exec 9>&-
echo "$WRAPPER"
