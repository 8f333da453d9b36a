// Script builders for the local lab: a network namespace stands for the server VM, joined to
// the host by a veth pair. Each builder returns an idempotent bash script; create and delete
// come in pairs and the integration tests run both for real.
import { SUDO_PRELUDE, cmd, q, script } from "./shell.js";

export interface NetnsHostArgs {
  namespace: string;
  /** Host side of the veth pair, with its address (the client host's NAT source). */
  hostInterface: string;
  hostAddress: string; // CIDR
  /** Namespace side, with the server's primary address. */
  interface: string;
  primaryAddress: string; // CIDR
  /** Extra client-host addresses on the host side (source-IP strategy host-ips / both). */
  hostSourceAddresses: string[]; // CIDR
  /** Runtime state (recorded sysctls, pid and log files); removed on delete. */
  stateDir: string;
}

const nsExists = (ns: string) => `[ -e /run/netns/${q(ns)} ]`;

export function netnsHostCreateScript(a: NetnsHostArgs): string {
  const gateway = a.hostAddress.split("/")[0]!;
  return script("server host (netns) create", [
    ...SUDO_PRELUDE,
    `as_root mkdir -p ${q(a.stateDir)}`,
    `${nsExists(a.namespace)} || as_root ${cmd("ip", "netns", "add", a.namespace)}`,
    `ip link show ${q(a.hostInterface)} >/dev/null 2>&1 || as_root ${cmd("ip", "link", "add", a.hostInterface, "type", "veth", "peer", "name", a.interface, "netns", a.namespace)}`,
    `as_root ${cmd("ip", "addr", "replace", a.hostAddress, "dev", a.hostInterface)}`,
    ...a.hostSourceAddresses.map((addr) => `as_root ${cmd("ip", "addr", "replace", addr, "dev", a.hostInterface)}`),
    `as_root ${cmd("ip", "link", "set", a.hostInterface, "up")}`,
    `as_root ${cmd("ip", "-n", a.namespace, "link", "set", "lo", "up")}`,
    `as_root ${cmd("ip", "-n", a.namespace, "addr", "replace", a.primaryAddress, "dev", a.interface)}`,
    `as_root ${cmd("ip", "-n", a.namespace, "link", "set", a.interface, "up")}`,
    `as_root ${cmd("ip", "-n", a.namespace, "route", "replace", "default", "via", gateway, "dev", a.interface)}`,
    // Docker turns forwarding on; if it is off we turn it on and remember to turn it off again.
    `if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then`,
    `  [ -f ${q(`${a.stateDir}/ip_forward.before`)} ] || cat /proc/sys/net/ipv4/ip_forward | as_root tee ${q(`${a.stateDir}/ip_forward.before`)} >/dev/null`,
    `  as_root sysctl -qw net.ipv4.ip_forward=1`,
    `fi`,
  ]);
}

export function netnsHostDeleteScript(a: NetnsHostArgs): string {
  const before = `${a.stateDir}/ip_forward.before`;
  return script("server host (netns) delete", [
    ...SUDO_PRELUDE,
    // Whatever still runs in the namespace goes with it: a server whose start was cut short
    // (pulumi up killed mid-step) is in no state, and would outlive the namespace otherwise.
    `if ${nsExists(a.namespace)}; then`,
    `  for i in 1 2 3 4 5 6 7 8 9 10; do`,
    `    pids=$(as_root ${cmd("ip", "netns", "pids", a.namespace)})`,
    `    [ -n "$pids" ] || break`,
    `    as_root kill $([ "$i" -gt 6 ] && echo -9) $pids 2>/dev/null || true`,
    `    sleep 0.5`,
    `  done`,
    // Deleting the namespace deletes its end of the veth pair and so the pair.
    `  as_root ${cmd("ip", "netns", "del", a.namespace)}`,
    `fi`,
    // The kernel removes the pair asynchronously after `ip netns del`: gone by now is fine too.
    `if ip link show ${q(a.hostInterface)} >/dev/null 2>&1; then as_root ${cmd("ip", "link", "del", a.hostInterface)} 2>/dev/null || ! ip link show ${q(a.hostInterface)} >/dev/null 2>&1; fi`,
    `if [ -f ${q(before)} ]; then as_root sysctl -qw "net.ipv4.ip_forward=$(cat ${q(before)})"; fi`,
    `as_root rm -rf ${q(a.stateDir)}`,
  ]);
}

export interface AddressesArgs {
  namespace: string;
  interface: string;
  addresses: string[]; // CIDR
}

export function netnsAddressesCreateScript(a: AddressesArgs): string {
  return script("secondary IPs create", [
    ...SUDO_PRELUDE,
    ...a.addresses.map((addr) => `as_root ${cmd("ip", "-n", a.namespace, "addr", "replace", addr, "dev", a.interface)}`),
  ]);
}

export function netnsAddressesDeleteScript(a: AddressesArgs): string {
  return script("secondary IPs delete", [
    ...SUDO_PRELUDE,
    `${nsExists(a.namespace)} || exit 0`,
    ...a.addresses.map(
      (addr) => `as_root ${cmd("ip", "-n", a.namespace, "addr", "del", addr, "dev", a.interface)} 2>/dev/null || true`,
    ),
  ]);
}

export interface TuningArgs {
  stateDir: string;
  /** Host-wide keys raised to at least this value (left alone when already higher). */
  raise: Record<string, number>;
  /** Host-wide keys set exactly (user overrides). */
  set: Record<string, string>;
  /** Per-namespace keys set inside the server namespace (gone with it). */
  namespace?: string;
  namespaceSysctls: Record<string, string>;
}

/** /proc/sys path of a sysctl key. */
const procPath = (key: string) => `/proc/sys/${key.replace(/\./g, "/")}`;

export function tuningCreateScript(a: TuningArgs): string {
  const dir = `${a.stateDir}/sysctl.before`;
  return script("tuning create", [
    ...SUDO_PRELUDE,
    `as_root mkdir -p ${q(dir)}`,
    // Records a key's value once, so re-running create never records our own value.
    `remember() { [ -f ${q(dir)}/"$1" ] || cat "/proc/sys/$(echo "$1" | tr . /)" | as_root tee ${q(dir)}/"$1" >/dev/null; }`,
    `[ -e ${q(procPath("net.netfilter.nf_conntrack_max"))} ] || as_root modprobe nf_conntrack 2>/dev/null || true`,
    ...Object.entries(a.raise).flatMap(([key, want]) => [
      `if [ "$(cat ${q(procPath(key))})" -lt ${q(want)} ]; then remember ${q(key)}; as_root sysctl -qw ${q(`${key}=${want}`)}; fi`,
    ]),
    ...Object.entries(a.set).map(([key, value]) => `remember ${q(key)}; as_root sysctl -qw ${q(`${key}=${value}`)}`),
    ...(a.namespace
      ? Object.entries(a.namespaceSysctls).map(
          ([key, value]) => `as_root ${cmd("ip", "netns", "exec", a.namespace!, "sysctl", "-qw", `${key}=${value}`)}`,
        )
      : []),
  ]);
}

export function tuningDeleteScript(a: Pick<TuningArgs, "stateDir">): string {
  const dir = `${a.stateDir}/sysctl.before`;
  return script("tuning delete", [
    ...SUDO_PRELUDE,
    `[ -d ${q(dir)} ] || exit 0`,
    `for f in ${q(dir)}/*; do`,
    `  [ -f "$f" ] || continue`,
    `  as_root sysctl -qw "$(basename "$f")=$(cat "$f")"`,
    `  as_root rm -f "$f"`,
    `done`,
    `as_root rmdir ${q(dir)}`,
    // The state dir goes too once nothing else (the netns host's pid and log files) is in it.
    `as_root rmdir ${q(a.stateDir)} 2>/dev/null || true`,
  ]);
}

export interface ServerProcessArgs {
  namespace: string;
  stateDir: string;
  node: string;
  nodeArgs: string[];
  serverJs: string;
  serverArgs: string[];
  readyTimeoutSeconds: number;
}

/** Starts the connection server detached inside the namespace: its own session, stdio to a log, a pid file. */
export function serverStartScript(a: ServerProcessArgs): string {
  const pid = `${a.stateDir}/server.pid`;
  const log = `${a.stateDir}/server.log`;
  return script("connection server start", [
    ...SUDO_PRELUDE,
    `as_root mkdir -p ${q(a.stateDir)}`,
    // A re-run (update) replaces the running server.
    stopServerLines(pid),
    // setsid --fork returns at once; the child records its pid, then becomes the server (ip netns exec execs).
    `as_root setsid --fork bash -c 'echo $$ > "$1"; exec >"$2" 2>&1 </dev/null; shift 2; exec "$@"' c1m-server ${cmd(pid, log, "ip", "netns", "exec", a.namespace, a.node, ...a.nodeArgs, a.serverJs, ...a.serverArgs)}`,
    `for _ in $(seq 1 ${a.readyTimeoutSeconds * 10}); do`,
    `  if grep -q '"type":"listening"' ${q(log)} 2>/dev/null; then cat ${q(pid)}; exit 0; fi`,
    `  if [ -f ${q(pid)} ] && ! kill -0 "$(cat ${q(pid)})" 2>/dev/null; then break; fi`,
    `  sleep 0.1`,
    `done`,
    `echo "c1m-lab: the connection server did not start; last lines of ${log}:" >&2`,
    `tail -n 20 ${q(log)} >&2 || true`,
    `exit 1`,
  ]);
}

export function serverStopScript(a: Pick<ServerProcessArgs, "stateDir">): string {
  const pid = `${a.stateDir}/server.pid`;
  return script("connection server stop", [
    ...SUDO_PRELUDE,
    stopServerLines(pid),
    `as_root rm -f ${q(`${a.stateDir}/server.log`)}`,
  ]);
}

/** TERM to the server's process group (primary and workers), then KILL after 10 s. */
function stopServerLines(pid: string): string {
  return [
    `if [ -f ${q(pid)} ]; then`,
    `  p=$(cat ${q(pid)})`,
    `  as_root kill -TERM -- "-$p" 2>/dev/null || true`,
    `  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done`,
    `  as_root kill -KILL -- "-$p" 2>/dev/null || true`,
    `  as_root rm -f ${q(pid)}`,
    `fi`,
  ].join("\n");
}

export interface NatPoolArgs {
  /** Client network subnet (source of lab traffic). */
  source: string;
  /** Server subnet (destination). */
  destination: string;
  from: number;
  to: number;
  /** Marks the rule as ours: c1m-lab:<stack>. */
  comment: string;
  /** SNAT to this client-host address (host-ips); unset = MASQUERADE to the outgoing interface's address. */
  toSource?: string;
}

function natRule(a: NatPoolArgs): string {
  const target = a.toSource
    ? ["SNAT", "--to-source", `${a.toSource}:${a.from}-${a.to}`]
    : ["MASQUERADE", "--to-ports", `${a.from}-${a.to}`];
  return cmd(
    "POSTROUTING",
    "-s",
    a.source,
    "-d",
    a.destination,
    "-p",
    "tcp",
    "-m",
    "comment",
    "--comment",
    a.comment,
    "-j",
    ...target,
  );
}

/** Our own NAT rules ahead of Docker's, one per client network, with a narrowed source-port pool for lab traffic. */
export function natPoolCreateScript(rules: NatPoolArgs[]): string {
  return script("NAT pool create", [
    ...SUDO_PRELUDE,
    ...rules.map(
      (a) =>
        `as_root iptables -t nat -C ${natRule(a)} 2>/dev/null || as_root iptables -t nat -I ${natRule(a).replace(/^POSTROUTING/, "POSTROUTING 1")}`,
    ),
  ]);
}

export function natPoolDeleteScript(rules: NatPoolArgs[]): string {
  return script("NAT pool delete", [
    ...SUDO_PRELUDE,
    ...rules.map((a) => `while as_root iptables -t nat -D ${natRule(a)} 2>/dev/null; do :; done`),
  ]);
}

/** Prints the client host's facts for the capacity plan as one JSON line. */
export function hostFactsScript(): string {
  return script("host facts", [
    `read_or() { cat "$1" 2>/dev/null || echo "$2"; }`,
    `fd=$(ulimit -Hn); [ "$fd" = unlimited ] && fd=1048576`,
    `dpid=$(pidof dockerd 2>/dev/null | cut -d' ' -f1 || true)`,
    `dn=null; if [ -n "$dpid" ] && [ -r "/proc/$dpid/limits" ]; then dn=$(awk '/^Max open files/ {print $5}' "/proc/$dpid/limits"); fi`,
    `[ "$dn" = unlimited ] && dn=1048576`,
    `mem=$(awk '/^MemAvailable:/ {print $2 * 1024}' /proc/meminfo)`,
    `printf '{"fdHardLimit":%s,"dockerNofile":%s,"nrOpen":%s,"fileMax":%s,"conntrackMax":%s,"conntrackBuckets":%s,"memAvailableBytes":%s}\\n' \\`,
    `  "$fd" "$dn" "$(read_or /proc/sys/fs/nr_open 1048576)" "$(read_or /proc/sys/fs/file-max 1048576)" \\`,
    `  "$(read_or /proc/sys/net/netfilter/nf_conntrack_max 262144)" "$(read_or /proc/sys/net/netfilter/nf_conntrack_buckets 65536)" "$mem"`,
  ]);
}
