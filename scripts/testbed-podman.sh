#!/usr/bin/env bash
# Make this machine ready for bot-bottle's rootless podman tests:
#   1. podman with its rootless helpers (uidmap, slirp4netns, passt when the
#      archive has it),
#   2. an unprivileged user (BOT_BOTTLE_PODMAN_USER, default bbpodman) with
#      subordinate ids, a runtime directory it owns (there is no systemd login
#      session to make one) and access to /dev/net/tun,
#   3. the base image (BOT_BOTTLE_BASE_IMAGE) in that user's image store,
#      copied from the Docker engine (no registry is needed).
# Idempotent: a second run only checks and returns in a few seconds.
set -euo pipefail

PODMAN_USER="${BOT_BOTTLE_PODMAN_USER:-bbpodman}"
IMAGE="${BOT_BOTTLE_BASE_IMAGE:-node:22-bookworm-slim}"

log() { printf '[testbed-podman] %s\n' "$*" >&2; }
die() { printf '[testbed-podman] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root; re-run as root (sudo $0)"

# --- 1: packages ------------------------------------------------------------------
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v newuidmap >/dev/null || missing+=(uidmap)
command -v slirp4netns >/dev/null || missing+=(slirp4netns)
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # passt (pasta) is optional: podman 4.3 defaults to slirp4netns.
  if apt-cache show passt >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends passt >/dev/null || true
  fi
fi

# --- 2: the user --------------------------------------------------------------------
if ! id "$PODMAN_USER" >/dev/null 2>&1; then
  log "creating user $PODMAN_USER"
  useradd -m -s /bin/bash "$PODMAN_USER"
fi
uid="$(id -u "$PODMAN_USER")"
gid="$(id -g "$PODMAN_USER")"
for f in /etc/subuid /etc/subgid; do
  if ! grep -q "^$PODMAN_USER:" "$f" 2>/dev/null; then
    log "adding subordinate ids for $PODMAN_USER to $f"
    usermod --add-subuids 200000-265535 --add-subgids 200000-265535 "$PODMAN_USER"
  fi
done
# slirp4netns opens /dev/net/tun in the user's namespace; it is 0600 here.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != "666" ]; then
  chmod 666 /dev/net/tun
fi
run_dir="/run/user/$uid"
if [ ! -d "$run_dir" ]; then
  mkdir -p "$run_dir"
fi
chown "$uid:$gid" "$run_dir"
chmod 700 "$run_dir"

as_user() {
  runuser -u "$PODMAN_USER" -- env HOME="$(getent passwd "$PODMAN_USER" | cut -d: -f6)" \
    XDG_RUNTIME_DIR="$run_dir" "$@"
}

# Native rootless overlay (kernel 5.13 and later); without this file podman
# 4.3 falls back to vfs, which copies every layer in full.
home="$(getent passwd "$PODMAN_USER" | cut -d: -f6)"
conf="$home/.config/containers/storage.conf"
if [ ! -f "$conf" ]; then
  runuser -u "$PODMAN_USER" -- mkdir -p "$(dirname "$conf")"
  printf '[storage]\ndriver = "overlay"\n' | runuser -u "$PODMAN_USER" -- tee "$conf" >/dev/null
fi
if [ "$(as_user podman info --format '{{.Store.GraphDriverName}}' 2>/dev/null)" != overlay ]; then
  log "resetting $PODMAN_USER's image store to use overlay"
  as_user podman system reset --force >/dev/null 2>&1
fi

as_user podman info --format '{{.Host.Security.Rootless}}' 2>/dev/null | grep -q true \
  || die "podman info as $PODMAN_USER does not report rootless"

# --- 3: base image ------------------------------------------------------------------
if as_user podman image exists "$IMAGE"; then
  log "base image $IMAGE present for $PODMAN_USER"
else
  docker image inspect "$IMAGE" >/dev/null 2>&1 \
    || die "$IMAGE is not in the Docker engine; run scripts/testbed.sh first"
  log "loading $IMAGE into $PODMAN_USER's image store"
  docker save "$IMAGE" | as_user podman load >/dev/null
  as_user podman image exists "$IMAGE" || die "podman load did not produce $IMAGE"
fi
log "ready: podman $(as_user podman version --format '{{.Client.Version}}') for user $PODMAN_USER (XDG_RUNTIME_DIR=$run_dir)"
