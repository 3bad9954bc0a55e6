#!/usr/bin/env bash
# Builds a local stand-in for node:20-bookworm-slim when that image cannot be pulled (no access
# to an image registry): a Debian bookworm minbase from Debian's mirror (debootstrap), with this
# machine's Node.js 20 and npm copied in, imported as node:20-bookworm-slim. The Dockerfile is the
# same either way; only where its base comes from differs.
#
# If this machine's npm trusts an extra CA bundle (`npm config get cafile`: a TLS-intercepting
# egress proxy, as on this project's machines), the stand-in trusts it too (NODE_EXTRA_CA_CERTS),
# so `npm ci` inside `docker build` reaches the registry the way npm on the machine does.
#
# usage: deploy/test/make-base-image.sh [CACHE_DIR]
set -euo pipefail

IMAGE=node:20-bookworm-slim
CACHE_DIR="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/matrix-notary-tools}"
ROOTFS="$CACHE_DIR/bookworm-minbase"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "make-base-image: $IMAGE is already present"
  exit 0
fi

node_bin="$(command -v node)"
case "$("$node_bin" --version)" in
  v20.*) ;;
  *) echo "make-base-image: $node_bin is $("$node_bin" --version), not Node.js 20: install Node.js 20 first" >&2; exit 1 ;;
esac
npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "make-base-image: installing debootstrap with apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

if [ ! -x "$ROOTFS/bin/sh" ]; then
  rm -rf "$ROOTFS.partial"
  mkdir -p "$CACHE_DIR"
  echo "make-base-image: debootstrap bookworm minbase into $ROOTFS (from $MIRROR)"
  debootstrap --variant=minbase bookworm "$ROOTFS.partial" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE_DIR/debootstrap.log" >&2; exit 1; }
  mv "$ROOTFS.partial" "$ROOTFS"
fi

# The official image keeps node and npm under /usr/local; do the same so paths match.
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/usr/local/bin" "$stage/usr/local/lib/node_modules"
cp "$node_bin" "$stage/usr/local/bin/node"
cp -a "$npm_dir" "$stage/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
extra_ca_env=""
cafile="$(npm config get cafile 2>/dev/null || true)"
if [ -n "$cafile" ] && [ "$cafile" != "null" ] && [ -f "$cafile" ]; then
  mkdir -p "$stage/usr/local/share/matrix-notary-build"
  cp "$cafile" "$stage/usr/local/share/matrix-notary-build/ca-bundle.pem"
  extra_ca_env="ENV NODE_EXTRA_CA_CERTS=/usr/local/share/matrix-notary-build/ca-bundle.pem"
  echo "make-base-image: trusting npm's CA bundle $cafile in the stand-in"
fi

echo "make-base-image: importing $IMAGE"
tar -C "$ROOTFS" --exclude=./proc --exclude=./sys --exclude=./dev -cf - . \
  | docker import \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'ENV NODE_VERSION=20' \
      -c 'CMD ["node"]' \
      - "$IMAGE.rootfs-only" >/dev/null
# A second layer with node and npm, so the rootfs layer is shared across Node.js updates.
cat >"$stage/Dockerfile" <<DOCKERFILE
FROM $IMAGE.rootfs-only
COPY usr/local /usr/local
$extra_ca_env
DOCKERFILE
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$stage" >/dev/null
docker image rm "$IMAGE.rootfs-only" >/dev/null 2>&1 || true
docker run --rm --network host "$IMAGE" node -e 'console.log("make-base-image: " + process.version + " ready in node:20-bookworm-slim")'
