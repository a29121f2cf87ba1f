/**
 * What to do when podman is not ready, in words that stand on their own
 * (`doctor` and the launch's checks are read by people who installed
 * bot-bottle from npm).
 */
export const FIX = {
  installPodman:
    'install Podman: on Debian or Ubuntu `apt-get install podman uidmap slirp4netns` (and `passt` where available); elsewhere see https://podman.io/docs/installation',
  startEngine:
    'make `podman info` work for this user: rootless podman needs entries for the user in /etc/subuid and /etc/subgid (`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER`), XDG_RUNTIME_DIR set to a directory the user owns (a login session makes /run/user/UID), and /dev/net/tun usable by the user (slirp4netns); on macOS or Windows `podman machine start`',
  runsc:
    'gVisor under podman needs the runsc runtime registered in containers.conf ([engine.runtimes] runsc = ["/usr/bin/runsc"]) and, rootless, runsc flags that ignore cgroups; use runtime: runc with podman, or the docker backend for runsc bottles',
  baseImage: (ref: string): string =>
    `\`podman pull ${ref}\`; without a registry, \`docker save ${ref} | podman load\` from a Docker engine that has it, or build one: \`debootstrap --variant=minbase bookworm DIR\`, copy this host's Node.js (20 or later) into DIR/usr/local/bin, then \`tar -C DIR -c . | podman import - ${ref}\`; or name an image you have in image.base of settings.yml or BOT_BOTTLE_BASE_IMAGE (Debian bookworm with Node.js 20 or later)`,
} as const;
