#!/usr/bin/env bash
# A second Docker engine that shares nothing of this machine's filesystem, for
# the `remote` test project: what Docker Desktop, colima, OrbStack or a remote
# DOCKER_HOST look like to bot-bottle. It is a docker-in-docker container on
# the local engine:
#   - image bot-bottle-testbed-dind, FROM the base image, with Debian's
#     docker.io, iptables, tini and runsc (gVisor, registered as on this
#     host, `--network=host`, so docker's network isolation still applies);
#   - not --privileged (a privileged container cannot start on a host whose
#     bounding set lacks CAP_SYS_RESOURCE), but every other capability and no
#     seccomp/AppArmor confinement, with the host's cgroup fs;
#   - dockerd on tcp://0.0.0.0:2375 inside it, storage driver vfs, reachable
#     at the container's address on network bot-bottle-dind only (no port is
#     published, so nothing off this host reaches it);
#   - no host path mounted into it except /sys/fs/cgroup, so a bind mount the
#     product asked that engine for would show an empty directory;
#   - the base image loaded into it with docker save | docker load.
# Both runtimes work there; the remote tests run one bottle under runsc and
# the others under runc, each saying which.
# Prints the engine's DOCKER_HOST on stdout (the tests find it the same way:
# by this container's name and its address on that network).
# Idempotent: a second run checks, and returns in a few seconds.
set -euo pipefail

IMAGE="${BOT_BOTTLE_BASE_IMAGE:-node:22-bookworm-slim}"
DIND_IMAGE=bot-bottle-testbed-dind
DIND_NAME="${BOT_BOTTLE_DIND_NAME:-bot-bottle-dind}"
DIND_NET="${BOT_BOTTLE_DIND_NET:-bot-bottle-dind}"
DIND_VOLUME="${BOT_BOTTLE_DIND_VOLUME:-bot-bottle-dind-data}"
# Inside the engine: networks from a pool that cannot collide with the
# outer engine's own (172.17-31/16, 192.168/16), so routes stay unambiguous.
INNER_BIP=10.213.0.1/24
INNER_POOL=base=10.213.0.0/16,size=24
TESTBED_LABEL=dev.bot-bottle.testbed=remote-engine

log() { printf '[testbed remote] %s\n' "$*" >&2; }
die() { printf '[testbed remote] error: %s\n' "$*" >&2; exit 1; }

base_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# The recipe's version: a change to the Dockerfile below bumps it.
DIND_RECIPE=2

ensure_dind_image() {
  local want have
  want="$(base_id "$IMAGE")"
  [ -n "$want" ] || die "base image $IMAGE is missing; run scripts/testbed.sh first"
  want="$want/$DIND_RECIPE"
  have="$(docker image inspect --format '{{index .Config.Labels "dev.bot-bottle.testbed.base"}}' "$DIND_IMAGE" 2>/dev/null || true)"
  if [ "$have" = "$want" ]; then
    log "image $DIND_IMAGE present"
    return
  fi
  log "building $DIND_IMAGE from $IMAGE (docker.io, iptables, tini, runsc from Debian)"
  local ctx old
  old="$(docker image inspect --format '{{.Id}}' "$DIND_IMAGE" 2>/dev/null || true)"
  ctx="$(mktemp -d /tmp/bot-bottle-dind.XXXXXX)"
  cat >"$ctx/Dockerfile" <<EOF
FROM $IMAGE
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io iptables tini runsc >/dev/null \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /etc/docker \\
 && echo '{"runtimes":{"runsc":{"path":"/usr/bin/runsc","runtimeArgs":["--network=host"]}}}' >/etc/docker/daemon.json
LABEL dev.bot-bottle.testbed.base="$want"
VOLUME /var/lib/docker
ENTRYPOINT ["/usr/bin/tini", "--"]
EOF
  if ! DOCKER_BUILDKIT=0 docker build -q --force-rm -t "$DIND_IMAGE" "$ctx" >"$ctx/build.log" 2>&1; then
    tail -n 30 "$ctx/build.log" >&2
    rm -rf "$ctx"
    die "building $DIND_IMAGE failed"
  fi
  rm -rf "$ctx"
  # A running engine from the old image is replaced below; its images stay
  # in the volume.
  docker rm -f -v "$DIND_NAME" >/dev/null 2>&1 || true
  [ -z "$old" ] || docker image rm "$old" >/dev/null 2>&1 || true
}

ensure_network() {
  if ! docker network inspect "$DIND_NET" >/dev/null 2>&1; then
    log "creating network $DIND_NET"
    docker network create --label "$TESTBED_LABEL" "$DIND_NET" >/dev/null
  fi
}

container_ip() {
  docker inspect --format "{{with index .NetworkSettings.Networks \"$DIND_NET\"}}{{.IPAddress}}{{end}}" "$DIND_NAME" 2>/dev/null || true
}

remote_answers() { DOCKER_HOST="$1" docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

ensure_engine() {
  local state
  state="$(docker inspect --format '{{.State.Status}}' "$DIND_NAME" 2>/dev/null || true)"
  case "$state" in
    running) ;;
    *)
      # A stopped docker-in-docker engine does not start again: its pid
      # files and containerd socket are left in the container's layer and
      # containerd then times out. Its images live in a named volume, so
      # the container is made anew and keeps them.
      if [ -n "$state" ]; then
        log "$DIND_NAME is $state; making it again (its images are kept in volume $DIND_VOLUME)"
        docker rm -f -v "$DIND_NAME" >/dev/null
      fi
      log "starting $DIND_NAME (dockerd, storage driver vfs)"
      # The named volume holds the engine's images: a volume of the outer
      # engine, never a path of this host (removing the container with -v
      # drops only anonymous volumes). /run (and /var/run, its link) is a
      # tmpfs, so nothing of a previous engine's run state survives.
      docker run --detach --name "$DIND_NAME" --hostname "$DIND_NAME" \
        --label "$TESTBED_LABEL" --network "$DIND_NET" \
        --cap-add ALL --cap-drop SYS_RESOURCE \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --security-opt systempaths=unconfined \
        -v /sys/fs/cgroup:/sys/fs/cgroup:rw --cgroupns host \
        -v "$DIND_VOLUME:/var/lib/docker" --tmpfs /run:exec \
        "$DIND_IMAGE" \
        dockerd --host=tcp://0.0.0.0:2375 --storage-driver=vfs \
        --bip "$INNER_BIP" --default-address-pool "$INNER_POOL" >/dev/null
      ;;
  esac
  local ip host
  for _ in $(seq 1 90); do
    ip="$(container_ip)"
    if [ -n "$ip" ] && remote_answers "tcp://$ip:2375"; then
      host="tcp://$ip:2375"
      break
    fi
    [ "$(docker inspect --format '{{.State.Status}}' "$DIND_NAME" 2>/dev/null)" = running ] \
      || { docker logs --tail 30 "$DIND_NAME" >&2 || true; die "$DIND_NAME exited during start-up"; }
    sleep 1
  done
  [ -n "${host:-}" ] || { docker logs --tail 30 "$DIND_NAME" >&2 || true; die "the engine in $DIND_NAME did not answer within 90 s"; }
  printf '%s' "$host"
}

# The engine must see no host path: only the cgroup fs and its own volume.
check_no_host_paths() {
  local binds
  binds="$(docker inspect --format '{{range .Mounts}}{{if eq .Type "bind"}}{{.Source}} {{end}}{{end}}' "$DIND_NAME")"
  [ "$(echo "$binds" | xargs)" = /sys/fs/cgroup ] \
    || die "$DIND_NAME has host paths mounted ($binds); remove it (docker rm -f -v $DIND_NAME) and run again"
}

ensure_base_loaded() {
  local host="$1" want have
  want="$(base_id "$IMAGE")"
  have="$(DOCKER_HOST="$host" docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
  if [ "$have" = "$want" ]; then
    log "base image $IMAGE present on $host"
    return
  fi
  log "loading $IMAGE into $host"
  docker save "$IMAGE" | DOCKER_HOST="$host" docker load -q >/dev/null
  have="$(DOCKER_HOST="$host" docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
  [ "$have" = "$want" ] || die "$IMAGE did not arrive on $host"
}

ensure_dind_image
ensure_network
host="$(ensure_engine)"
check_no_host_paths
ensure_base_loaded "$host"
log "remote engine ready: DOCKER_HOST=$host ($(DOCKER_HOST="$host" docker version --format '{{.Server.Version}}'), runtimes: $(DOCKER_HOST="$host" docker info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}'))"
echo "$host"
