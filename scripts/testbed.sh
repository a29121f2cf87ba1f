#!/usr/bin/env bash
# Make this machine ready for bot-bottle's docker-backed tests (and for real
# use on a fresh Debian/Ubuntu host):
#   1. a Docker engine that answers `docker info` (installs docker.io and
#      starts dockerd when none answers),
#   2. gVisor registered as the `runsc` runtime,
#   3. the base image named by BOT_BOTTLE_BASE_IMAGE present locally: pulled
#      when a registry answers, otherwise built from Debian with debootstrap
#      plus this host's Node.js,
#   4. the tools the tests themselves run (zstd: the fake upstream answers in
#      zstd as CDNs do, and Node's zlib has none),
#   5. rootless podman for an unprivileged user with the base image loaded
#      (scripts/testbed-podman.sh), for the podman backend's tests,
#   6. a second engine that shares none of this machine's files, for the
#      `remote` test project (scripts/testbed-remote.sh),
#   7. a PostgreSQL server on 127.0.0.1 for the Postgres ledger's tests
#      (scripts/testbed-postgres.sh; its URL in /var/tmp/bot-bottle-pg/url).
# Idempotent: a second run only checks and returns in a few seconds.
set -euo pipefail
work=""

DEFAULT_IMAGE="node:22-bookworm-slim"
IMAGE="${BOT_BOTTLE_BASE_IMAGE:-$DEFAULT_IMAGE}"
DOCKERD_LOG="${BOT_BOTTLE_DOCKERD_LOG:-/var/log/bot-bottle-dockerd.log}"
DAEMON_JSON=/etc/docker/daemon.json

log() { printf '[testbed] %s\n' "$*" >&2; }
die() { printf '[testbed] error: %s\n' "$*" >&2; exit 1; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    die "$1 needs root; re-run as root (sudo $0)"
  fi
}

apt_install() {
  need_root "installing $*"
  if [ -z "${APT_UPDATED:-}" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

engine_answers() { docker info >/dev/null 2>&1; }

# A dockerd that died uncleanly leaves pid files behind, and a pid that is
# now a zombie or another program makes the next dockerd refuse to start.
clear_stale_pidfiles() {
  local f pid state
  for f in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f" 2>/dev/null || true)"
    state="$(ps -o stat= -p "$pid" 2>/dev/null | tr -d ' ' || true)"
    if [ -z "$state" ] || [[ "$state" == Z* ]]; then
      log "removing stale $f (pid ${pid:-?} is not running)"
      rm -f "$f"
    fi
  done
}

# --- 1 + 2: engine and gVisor -------------------------------------------------
ensure_runsc_config() {
  # Merge rather than overwrite: the host may already carry daemon settings.
  mkdir -p "$(dirname "$DAEMON_JSON")"
  node - "$DAEMON_JSON" <<'JS'
const fs = require('node:fs');
const path = process.argv[2];
let cfg = {};
if (fs.existsSync(path)) {
  const text = fs.readFileSync(path, 'utf8').trim();
  cfg = text ? JSON.parse(text) : {};
}
const want = { path: '/usr/bin/runsc', runtimeArgs: ['--network=host'] };
cfg.runtimes ??= {};
const changed = JSON.stringify(cfg.runtimes.runsc) !== JSON.stringify(want);
cfg.runtimes.runsc = want;
if (changed) fs.writeFileSync(path, JSON.stringify(cfg, null, 2) + '\n');
process.exit(changed ? 10 : 0);
JS
}

ensure_engine() {
  local missing=()
  command -v docker >/dev/null || missing+=(docker.io)
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v runsc >/dev/null || missing+=(runsc)
  if [ "${#missing[@]}" -gt 0 ]; then
    # shellcheck disable=SC2207
    apt_install $(printf '%s\n' "${missing[@]}" | sort -u)
  fi

  local rc=0
  ensure_runsc_config || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 10 ]; then die "could not update $DAEMON_JSON"; fi

  if engine_answers; then
    if [ "$rc" -eq 10 ]; then
      log "registered runsc; asking dockerd to reload its configuration"
      pkill -HUP -x dockerd || die "dockerd answers but is not a local process; add the runsc runtime to its daemon.json by hand"
      sleep 1
    fi
  else
    need_root "starting dockerd"
    clear_stale_pidfiles
    log "starting dockerd (log: $DOCKERD_LOG)"
    nohup dockerd >"$DOCKERD_LOG" 2>&1 &
    local dockerd_pid=$!
    for _ in $(seq 1 60); do
      engine_answers && break
      kill -0 "$dockerd_pid" 2>/dev/null || { tail -n 30 "$DOCKERD_LOG" >&2; die "dockerd exited during start-up"; }
      sleep 1
    done
    engine_answers || { tail -n 30 "$DOCKERD_LOG" >&2; die "dockerd did not answer within 60 s"; }
  fi

  docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' \
    || die "dockerd does not list the runsc runtime; check $DAEMON_JSON"
  log "engine ready: $(docker version --format '{{.Server.Version}}'), runtimes: $(docker info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}')"
}

# --- 3: base image --------------------------------------------------------------
debian_mirror() {
  local src=/etc/apt/sources.list.d/debian.sources
  if [ -f "$src" ]; then
    awk '/^URIs:/ {print $2; exit}' "$src"
  else
    echo "http://deb.debian.org/debian"
  fi
}

build_local_base() {
  need_root "debootstrap"
  command -v debootstrap >/dev/null || apt_install debootstrap
  local node_bin npm_dir mirror
  node_bin="$(readlink -f "$(command -v node)")"
  npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  mirror="$(debian_mirror)"
  work="$(mktemp -d /tmp/bot-bottle-base.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  log "debootstrap bookworm from $mirror (about 30 s)"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$work/root" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  log "adding Node.js $(node --version) and npm from this host"
  install -m 0755 "$node_bin" "$work/root/usr/local/bin/node"
  mkdir -p "$work/root/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$work/root/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$work/root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$work/root/usr/local/bin/npx"
  rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
  log "importing as $IMAGE"
  tar -C "$work/root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --change "LABEL dev.bot-bottle.base=debootstrap dev.bot-bottle.node=$(node --version)" \
    - "$IMAGE" >/dev/null
  rm -rf "$work"
}

ensure_base_image() {
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "base image $IMAGE present"
    return
  fi
  log "base image $IMAGE missing; trying a pull"
  if timeout 60 docker pull -q "$IMAGE" >/dev/null 2>&1; then
    log "pulled $IMAGE"
    return
  fi
  log "no registry answered for $IMAGE; building it locally"
  build_local_base
  docker run --rm "$IMAGE" node -e 'process.exit(0)' || die "built $IMAGE but node does not run in it"
  log "built $IMAGE"
}

# The SQLite ledger (better-sqlite3) compiles from source when no prebuilt
# binary can be downloaded; `npm ci` needs a C++ toolchain and Python for that.
# The tests' fake upstream compresses with the zstd command; the dashboard and
# supervise e2e tests drive the TUIs in a real terminal (tmux).
ensure_build_tools() {
  local missing=()
  command -v make >/dev/null || missing+=(make)
  command -v g++ >/dev/null || missing+=(g++)
  command -v python3 >/dev/null || missing+=(python3)
  command -v zstd >/dev/null || missing+=(zstd)
  command -v tmux >/dev/null || missing+=(tmux)
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
}

ensure_build_tools
ensure_engine
ensure_base_image
BOT_BOTTLE_BASE_IMAGE="$IMAGE" bash "$(dirname "$0")/testbed-podman.sh"
remote_host="$(BOT_BOTTLE_BASE_IMAGE="$IMAGE" bash "$(dirname "$0")/testbed-remote.sh")"
bash "$(dirname "$0")/testbed-postgres.sh" >/dev/null
log "ready (BOT_BOTTLE_BASE_IMAGE=$IMAGE; remote engine for the remote tests: DOCKER_HOST=$remote_host)"
