// A second client machine on this one (clients.hosts[i].netns): a network namespace joined to
// this machine by a veth pair, running its own dockerd (own data root, exec root, pid file and
// socket, all in the host's state directory) and its own sshd, which is the only way the lab
// reaches it. Its host key and the key ssh logs in with are made here at create; the state
// directory is root-only. Pure: idempotent create/delete bash scripts.
import { dirname } from "node:path";
import { FAIL, SUDO_PRELUDE, cmd, q, script } from "../../shell.js";
import { aliasOf, namespaceDeleteLines, nsExists, vethPairLines } from "../../vethPair.js";

export interface NetnsDockerHostArgs {
  namespace: string;
  /** This machine's side of the veth (CIDR address): the namespace's gateway. */
  hostInterface: string;
  hostAddress: string;
  /** The namespace's side, with its address (CIDR): where sshd listens. */
  interface: string;
  address: string;
  sshPort: number;
  /** Everything of the host lives here: keys, docker data root, sockets, logs (removed on delete). */
  stateDir: string;
  /** dockerd's exec root: short, so containerd's socket paths stay under the 108-byte limit. */
  execRoot: string;
  /** The owner mark on the links (ifalias) and on the FORWARD rules (comment): c1m-lab:<stack>:<host>. */
  owner: string;
}

/** Where the host's files are: the state dir's layout, shared by the scripts, the program and the tests. */
export function netnsDockerHostFiles(a: Pick<NetnsDockerHostArgs, "stateDir">) {
  const d = a.stateDir;
  return {
    clientKey: `${d}/id_ed25519`,
    knownHosts: `${d}/known_hosts`,
    hostKey: `${d}/ssh_host_ed25519_key`,
    authorizedKeys: `${d}/authorized_keys`,
    sshdPid: `${d}/sshd.pid`,
    dockerSocket: `${d}/docker.sock`,
    dockerPid: `${d}/docker.pid`,
    dataRoot: `${d}/docker`,
    daemonJson: `${d}/daemon.json`,
    dockerLog: `${d}/dockerd.log`,
  };
}

/** This machine forwards between the namespace and the server (Docker's FORWARD policy is DROP). */
function forwardRules(a: NetnsDockerHostArgs): string[][] {
  return [
    ["FORWARD", "-i", a.hostInterface, "-m", "comment", "--comment", a.owner, "-j", "ACCEPT"],
    ["FORWARD", "-o", a.hostInterface, "-m", "comment", "--comment", a.owner, "-j", "ACCEPT"],
  ];
}

export function netnsDockerHostCreateScript(a: NetnsDockerHostArgs): string {
  const f = netnsDockerHostFiles(a);
  const ip = a.address.split("/")[0]!;
  const inNs = (...words: string[]) => `as_root ${cmd("ip", "netns", "exec", a.namespace, ...words)}`;
  return script("client host (netns) create", [
    ...SUDO_PRELUDE,
    ...FAIL,
    `if ip link show ${q(a.hostInterface)} >/dev/null 2>&1 && [ "${aliasOf(a.hostInterface)}" != ${q(a.owner)} ]; then`,
    `  fail ${q(`client host: a link named ${a.hostInterface} exists and is not this lab's (no ifalias ${a.owner}); remove it or rename the host`)}`,
    `fi`,
    `if ${nsExists(a.namespace)} && [ "${aliasOf(a.interface, a.namespace)}" != ${q(a.owner)} ]; then`,
    `  fail ${q(`client host: a namespace named ${a.namespace} exists and is not this lab's; remove it or rename the host`)}`,
    `fi`,
    // A failed create is in no state: undo what this run made.
    `made=0`,
    `undo_script=${q(netnsDockerHostDeleteScript(a))}`,
    `trap 'rc=$?; if [ "$rc" != 0 ] && [ "$made" = 1 ]; then echo "c1m-lab: client host (netns) create failed: undoing it" >&2; bash -c "$undo_script" || true; fi' EXIT`,
    `for tool in dockerd sshd ssh-keygen; do command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || fail "client host: $tool is missing (apt-get install docker.io openssh-server)"; done`,
    `as_root install -d -m 0700 ${q(a.stateDir)}`,
    `as_root install -d -m 0700 ${q(a.execRoot)}`,
    ...vethPairLines({ ...a, hostAddresses: [a.hostAddress] }, { namespace: "made=1", link: "made=1" }),
    ...forwardRules(a).map(
      (r) => `as_root iptables -C ${cmd(...r)} 2>/dev/null || as_root iptables -I ${cmd(r[0]!, "1", ...r.slice(1))}`,
    ),
    `[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || fail "client host: net.ipv4.ip_forward is off on this machine (Docker turns it on); sysctl -w net.ipv4.ip_forward=1"`,
    // Keys: the host's own (its public half is printed and pinned) and the one ssh logs in with.
    `[ -f ${q(f.hostKey)} ] || as_root ssh-keygen -q -t ed25519 -N '' -C ${q(a.owner)} -f ${q(f.hostKey)}`,
    `[ -f ${q(f.clientKey)} ] || as_root ssh-keygen -q -t ed25519 -N '' -C ${q(a.owner)} -f ${q(f.clientKey)}`,
    `as_root cp ${q(`${f.clientKey}.pub`)} ${q(f.authorizedKeys)}`,
    `printf '%s %s\\n' ${q(sshKnownHostsName(ip, a.sshPort))} "$(cut -d' ' -f1,2 ${q(`${f.hostKey}.pub`)})" | as_root tee ${q(f.knownHosts)} >/dev/null`,
    `printf '{}\\n' | as_root tee ${q(f.daemonJson)} >/dev/null`,
    // dockerd: started once, waited for; its own everything, so the machine's dockerd is untouched.
    `if ! { [ -f ${q(f.dockerPid)} ] && as_root kill -0 "$(cat ${q(f.dockerPid)})" 2>/dev/null; }; then`,
    `  made=1`,
    // nsenter --net, not `ip netns exec`: that one also remounts /sys, hiding the cgroup mounts dockerd needs.
    `  as_root ${cmd("nsenter", `--net=/run/netns/${a.namespace}`, "setsid", "dockerd", "--config-file", f.daemonJson, "--data-root", f.dataRoot, "--exec-root", a.execRoot, "--pidfile", f.dockerPid, "-H", `unix://${f.dockerSocket}`)} </dev/null >>${q(f.dockerLog)} 2>&1 &`,
    `fi`,
    `for i in $(seq 1 120); do as_root ${cmd("docker", "-H", `unix://${f.dockerSocket}`, "info")} >/dev/null 2>&1 && break; sleep 0.5; done`,
    `as_root ${cmd("docker", "-H", `unix://${f.dockerSocket}`, "info")} >/dev/null 2>&1 || fail "client host: its dockerd did not answer within 60 s: $(tail -n 5 ${q(f.dockerLog)} 2>/dev/null)"`,
    // sshd: the docker CLI that ssh runs there (docker system dial-stdio) talks to this dockerd.
    `if ! { [ -f ${q(f.sshdPid)} ] && as_root kill -0 "$(cat ${q(f.sshdPid)})" 2>/dev/null; }; then`,
    `  made=1; as_root mkdir -p /run/sshd`,
    `  ${inNs("/usr/sbin/sshd", "-f", "/dev/null", "-o", `HostKey=${f.hostKey}`, "-o", `AuthorizedKeysFile=${f.authorizedKeys}`, "-o", `PidFile=${f.sshdPid}`, "-o", "StrictModes=no", "-o", "PermitRootLogin=prohibit-password", "-o", "PasswordAuthentication=no", "-o", `SetEnv=DOCKER_HOST=unix://${f.dockerSocket}`, "-o", `ListenAddress=${ip}`, "-p", String(a.sshPort))}`,
    `fi`,
    `for i in $(seq 1 40); do [ -s ${q(f.sshdPid)} ] && break; sleep 0.25; done`,
    `[ -s ${q(f.sshdPid)} ] || fail "client host: its sshd did not start"`,
    // The public host key, for the program to pin.
    `echo "hostkey: $(cut -d' ' -f1,2 ${q(`${f.hostKey}.pub`)})"`,
  ]);
}

/** How known_hosts names a host at a port. */
export function sshKnownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/**
 * Removes the host: sshd, then dockerd (it stops its containers), whatever else still runs in the
 * namespace, the mounts under its data root, the FORWARD rules, the namespace and link, and the
 * state directory. Only what carries the owner mark; idempotent.
 */
export function netnsDockerHostDeleteScript(a: NetnsDockerHostArgs): string {
  const f = netnsDockerHostFiles(a);
  const stop = (pidFile: string, what: string, seconds: number) => [
    `if [ -f ${q(pidFile)} ] && pid=$(cat ${q(pidFile)}) && as_root kill -0 "$pid" 2>/dev/null; then`,
    `  as_root kill "$pid" 2>/dev/null || true`,
    `  for i in $(seq 1 ${seconds * 4}); do as_root kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done`,
    `  as_root kill -0 "$pid" 2>/dev/null && { echo "c1m-lab: ${what} did not stop on SIGTERM: killed" >&2; as_root kill -9 "$pid" 2>/dev/null || true; }`,
    `fi`,
  ];
  return script("client host (netns) delete", [
    ...SUDO_PRELUDE,
    ...stop(f.sshdPid, "the client host's sshd", 5),
    ...stop(f.dockerPid, "the client host's dockerd", 60),
    ...namespaceDeleteLines(a),
    // Mounts a killed dockerd left (overlay layers, container shm), deepest first.
    `for dir in ${q(a.stateDir)} ${q(a.execRoot)}; do`,
    `  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do as_root umount -l "$m" 2>/dev/null || true; done`,
    `done`,
    ...forwardRules(a).map((r) => `while as_root iptables -D ${cmd(...r)} 2>/dev/null; do :; done`),
    `if ip link show ${q(a.hostInterface)} >/dev/null 2>&1 && [ "${aliasOf(a.hostInterface)}" = ${q(a.owner)} ]; then as_root ${cmd("ip", "link", "del", a.hostInterface)} 2>/dev/null || ! ip link show ${q(a.hostInterface)} >/dev/null 2>&1; fi`,
    `as_root rm -rf ${q(a.stateDir)} ${q(a.execRoot)}`,
    // Their parents go too when nothing else is left in them.
    `as_root rmdir ${q(dirname(a.stateDir))} ${q(dirname(a.execRoot))} 2>/dev/null || true`,
  ]);
}
