// A network namespace joined to this machine by a veth pair that carries the lab's owner mark:
// the script lines the server's namespace and a lab-made client host (its own dockerd and sshd)
// both create it with. Pure: bash lines (they expect SUDO_PRELUDE's as_root).
import { cmd, q } from "./shell.js";

export const nsExists = (ns: string) => `[ -e /run/netns/${q(ns)} ]`;

// The links' owner mark: a link of the same name that does not carry it is someone else's and is
// refused, never adopted (its deletion on destroy would take the user's link away).
export const aliasOf = (link: string, ns?: string) =>
  `$(${ns ? `as_root ${cmd("ip", "netns", "exec", ns, "cat", `/sys/class/net/${link}/ifalias`)}` : `cat ${q(`/sys/class/net/${link}/ifalias`)}`} 2>/dev/null || true)`;

export interface VethPair {
  namespace: string;
  hostInterface: string;
  interface: string;
  /** The owner mark set as both links' alias. */
  owner: string;
  /** This machine's addresses on its end: the first is the namespace's gateway. */
  hostAddresses: string[];
  /** The namespace's address on its end. */
  address: string;
}

/**
 * The namespace and the pair when missing (each made one runs `made.namespace` / `made.link`,
 * shell statements that record it for the caller's undo), then addresses, links up, the default
 * route via this machine; idempotent.
 */
export function vethPairLines(v: VethPair, made: { namespace: string; link: string }): string[] {
  const gateway = v.hostAddresses[0]!.split("/")[0]!;
  return [
    `if ! ${nsExists(v.namespace)}; then as_root ${cmd("ip", "netns", "add", v.namespace)}; ${made.namespace}; fi`,
    `if ! ip link show ${q(v.hostInterface)} >/dev/null 2>&1; then`,
    `  as_root ${cmd("ip", "link", "add", v.hostInterface, "type", "veth", "peer", "name", v.interface, "netns", v.namespace)}; ${made.link}`,
    `  as_root ${cmd("ip", "link", "set", "dev", v.hostInterface, "alias", v.owner)}`,
    `  as_root ${cmd("ip", "-n", v.namespace, "link", "set", "dev", v.interface, "alias", v.owner)}`,
    `fi`,
    ...v.hostAddresses.map((addr) => `as_root ${cmd("ip", "addr", "replace", addr, "dev", v.hostInterface)}`),
    `as_root ${cmd("ip", "link", "set", v.hostInterface, "up")}`,
    `as_root ${cmd("ip", "-n", v.namespace, "link", "set", "lo", "up")}`,
    `as_root ${cmd("ip", "-n", v.namespace, "addr", "replace", v.address, "dev", v.interface)}`,
    `as_root ${cmd("ip", "-n", v.namespace, "link", "set", v.interface, "up")}`,
    `as_root ${cmd("ip", "-n", v.namespace, "route", "replace", "default", "via", gateway, "dev", v.interface)}`,
  ];
}

/**
 * Deletes the namespace when it carries the owner mark (a namespace of that name made by someone
 * else stays), after what still runs in it: TERM, then KILL after 3 s. Deleting the namespace
 * deletes its end of the veth pair and so the pair.
 */
export function namespaceDeleteLines(v: Pick<VethPair, "namespace" | "interface" | "owner">): string[] {
  return [
    `if ${nsExists(v.namespace)} && [ "${aliasOf(v.interface, v.namespace)}" = ${q(v.owner)} ]; then`,
    `  for i in 1 2 3 4 5 6 7 8 9 10; do`,
    `    pids=$(as_root ${cmd("ip", "netns", "pids", v.namespace)})`,
    `    [ -n "$pids" ] || break`,
    `    as_root kill $([ "$i" -gt 6 ] && echo -9) $pids 2>/dev/null || true`,
    `    sleep 0.5`,
    `  done`,
    `  as_root ${cmd("ip", "netns", "del", v.namespace)}`,
    `fi`,
  ];
}
