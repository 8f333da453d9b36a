// The server host of the local lab: a network namespace joined to this machine by a veth pair.
// Pure: idempotent create/delete bash scripts, run for real by the integration tests.
import { SUDO_PRELUDE, cmd, q, script } from "../../../shell.js";

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

export const nsExists = (ns: string) => `[ -e /run/netns/${q(ns)} ]`;

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
