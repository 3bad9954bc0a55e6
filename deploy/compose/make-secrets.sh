#!/usr/bin/env bash
# Makes the secret files docker-compose.yml mounts, under ./data/compose/ (git ignores ./data):
# the signing key (made by the image itself), the signer token, the Redis and Grafana passwords.
# Existing files are kept, so running it again changes nothing. Run from the repository root,
# after `docker-compose build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=data/compose
mkdir -p "$dir"
umask 077

random() { head -c 32 /dev/urandom | base64 | tr -d '/+=\n'; }

if [ ! -s "$dir/signing.key" ]; then
  docker run --rm --network host matrix-notary:local generate-key > "$dir/signing.key.new"
  mv "$dir/signing.key.new" "$dir/signing.key"
  echo "made $dir/signing.key: keep a copy somewhere safe"
fi
for name in signer-token redis-password grafana-admin-password; do
  [ -s "$dir/$name" ] || { random > "$dir/$name"; echo "made $dir/$name"; }
done
# Compose mounts these files as they are: the notary runs as uid 10001, Redis and Grafana as
# their own users. The key is for the notary's user only; the others must be readable by the
# containers that share them.
if [ "$(id -u)" -eq 0 ]; then
  chown 10001:10001 "$dir/signing.key"
  chmod 0400 "$dir/signing.key"
else
  echo "warning: not root, so $dir/signing.key is not handed to uid 10001; run: sudo chown 10001:10001 $dir/signing.key" >&2
fi
chmod 0444 "$dir/signer-token" "$dir/redis-password" "$dir/grafana-admin-password"
