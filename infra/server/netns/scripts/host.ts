// The server host of the local lab: a network namespace joined to this machine by a veth pair.
// Pure: idempotent create/delete bash scripts, run for real by the integration tests.
import { FAIL, PRINT_INSTANCE_TOKEN, SUDO_PRELUDE, cmd, q, script } from "../../../shell.js";
import { aliasOf, namespaceDeleteLines, nsExists, vethPairLines } from "../../../vethPair.js";
import { EHASH_KEY } from "../../../plan/ehash.js";
import { procPath } from "./tuning.js";

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
  /** The owner mark on the lab's links (their ifalias): c1m-lab:<stack>. */
  owner: string;
  /** The namespace's own established-socket hash (infra/plan/ehash.ts); 0 = share the host's. */
  ehashEntries: number;
}

export { nsExists };

/** Where the create leaves the host's instance token (tmpfs: a reboot clears it, and so does the delete). */
export const instanceFile = (a: NetnsHostArgs) => `${a.stateDir}/instance`;

/** Refuses a namespace or link of the lab's names that this lab did not make. */
function refuseForeign(a: NetnsHostArgs): string[] {
  return [
    `if ip link show ${q(a.hostInterface)} >/dev/null 2>&1 && [ "${aliasOf(a.hostInterface)}" != ${q(a.owner)} ]; then`,
    `  fail ${q(`server.hostInterface: a link named ${a.hostInterface} exists and is not this lab's (no ifalias ${a.owner}); choose another name or remove that link`)}`,
    `fi`,
    `if ${nsExists(a.namespace)} && [ "${aliasOf(a.interface, a.namespace)}" != ${q(a.owner)} ]; then`,
    `  fail ${q(`server.namespace: a namespace named ${a.namespace} exists and is not this lab's (no link ${a.interface} with ifalias ${a.owner} in it); choose another name or remove it`)}`,
    `fi`,
  ];
}

const EHASH_PROC = procPath(EHASH_KEY);

/**
 * A namespace gets the hash size its creator's namespace holds in tcp_child_ehash_entries at that
 * moment: set just before `ip netns add` and put back right after (and by the exit trap on
 * failure), so no other namespace made on this machine gets the lab's size. Older kernels lack the key.
 */
function ehashAround(a: NetnsHostArgs, lines: string[]): string[] {
  if (a.ehashEntries === 0) return lines;
  return [
    `if ! ${nsExists(a.namespace)} && [ -e ${EHASH_PROC} ]; then`,
    `  ehash_before=$(cat ${EHASH_PROC})`,
    `  as_root sysctl -qw ${q(`${EHASH_KEY}=${a.ehashEntries}`)}`,
    `fi`,
    ...lines,
    `ehash_back`,
  ];
}

/** On failure, the create removes what this run made before it exits: a failed create is in no state. */
function undoOnFailure(a: NetnsHostArgs): string[] {
  return [
    "made_ns=0; made_link=0; ehash_before=",
    `ehash_back() { if [ -n "$ehash_before" ]; then as_root sysctl -qw "${EHASH_KEY}=$ehash_before"; ehash_before=; fi; }`,
    "undo() {",
    `  if [ "$made_link" = 1 ]; then as_root ${cmd("ip", "link", "del", a.hostInterface)} 2>/dev/null || true; fi`,
    `  if [ "$made_ns" = 1 ]; then as_root ${cmd("ip", "netns", "del", a.namespace)} 2>/dev/null || true; fi`,
    "}",
    `trap 'rc=$?; ehash_back; if [ "$rc" != 0 ]; then echo "c1m-lab: server host (netns) create failed: undoing what it made" >&2; undo; fi' EXIT`,
  ];
}

export function netnsHostCreateScript(a: NetnsHostArgs): string {
  return script("server host (netns) create", [
    ...SUDO_PRELUDE,
    ...FAIL,
    ...refuseForeign(a),
    ...undoOnFailure(a),
    `as_root mkdir -p ${q(a.stateDir)}`,
    ...ehashAround(
      a,
      vethPairLines(
        { ...a, hostAddresses: [a.hostAddress, ...a.hostSourceAddresses], address: a.primaryAddress },
        { namespace: "made_ns=1", link: "made_link=1" },
      ),
    ),
    // Docker turns forwarding on; if it is off we turn it on and remember to turn it off again.
    `if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then`,
    `  [ -f ${q(`${a.stateDir}/ip_forward.before`)} ] || cat /proc/sys/net/ipv4/ip_forward | as_root tee ${q(`${a.stateDir}/ip_forward.before`)} >/dev/null`,
    `  as_root sysctl -qw net.ipv4.ip_forward=1`,
    `fi`,
    // Last, once the host is whole: the token the next `up` reads back to tell this host is still the one in the state.
    `${PRINT_INSTANCE_TOKEN} | as_root tee ${q(instanceFile(a))} >/dev/null`,
  ]);
}

/**
 * Prints the token of the host that is up (nothing when the namespace, our link or the token is
 * gone: a reboot, or the namespace deleted out of band). Read-only.
 */
export function netnsHostInstanceScript(a: NetnsHostArgs): string {
  return script("server host (netns) instance", [
    ...SUDO_PRELUDE,
    `if ${nsExists(a.namespace)} && [ "${aliasOf(a.hostInterface)}" = ${q(a.owner)} ] && [ -f ${q(instanceFile(a))} ]; then`,
    `  head -c 200 ${q(instanceFile(a))}`,
    `fi`,
  ]);
}

export function netnsHostDeleteScript(a: NetnsHostArgs): string {
  const before = `${a.stateDir}/ip_forward.before`;
  return script("server host (netns) delete", [
    ...SUDO_PRELUDE,
    // Whatever still runs in the namespace goes with it: a server whose start was cut short
    // (pulumi up killed mid-step) is in no state, and would outlive the namespace otherwise.
    // Only what carries our mark: a namespace or link of the same name made by someone else stays.
    ...namespaceDeleteLines(a),
    // The kernel removes the pair asynchronously after `ip netns del`: gone by now is fine too.
    `if ip link show ${q(a.hostInterface)} >/dev/null 2>&1 && [ "${aliasOf(a.hostInterface)}" = ${q(a.owner)} ]; then as_root ${cmd("ip", "link", "del", a.hostInterface)} 2>/dev/null || ! ip link show ${q(a.hostInterface)} >/dev/null 2>&1; fi`,
    `if [ -f ${q(before)} ]; then as_root sysctl -qw "net.ipv4.ip_forward=$(cat ${q(before)})"; fi`,
    `as_root rm -rf ${q(a.stateDir)}`,
  ]);
}
