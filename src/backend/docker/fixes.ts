/**
 * What to do when the machine is not ready, in words that stand on their
 * own: `doctor` and the launch's checks are read by people who installed
 * bot-bottle from npm, whose package ships no helper scripts.
 */
export const FIX = {
  installDocker:
    'install Docker: on Debian or Ubuntu `apt-get install docker.io`; elsewhere see https://docs.docker.com/engine/install/ (Docker Desktop, colima and remote engines work too; set DOCKER_HOST for a remote one)',
  startEngine:
    'start the Docker engine: `systemctl start docker`, or as root without systemd `dockerd > /var/log/dockerd.log 2>&1 &`; on Docker Desktop or colima start the app (`colima start`); check with `docker info`',
  registerRunsc:
    'install gVisor (`apt-get install runsc` on Debian, or https://gvisor.dev/docs/user_guide/install/), add {"runtimes":{"runsc":{"path":"/usr/bin/runsc"}}} to /etc/docker/daemon.json (merge with what is there), then restart dockerd (`systemctl restart docker`, or send it SIGHUP to reload)',
  baseImage: (ref: string): string =>
    `\`docker pull ${ref}\`; without a registry, \`docker save ${ref}\` on a machine that has it and \`docker load\` it here, or build one: \`debootstrap --variant=minbase bookworm DIR\`, copy this host's Node.js (20 or later) into DIR/usr/local/bin, then \`tar -C DIR -c . | docker import - ${ref}\`; or name an image you have in image.base of settings.yml or BOT_BOTTLE_BASE_IMAGE (Debian bookworm with Node.js 20 or later)`,
} as const;
