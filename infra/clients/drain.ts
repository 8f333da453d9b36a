// Stopping the client containers before the docker provider deletes them.
//
// Measured at 1M (51 clients, 2026-12-02): a plain `docker stop` of all of them took 215 s. Each
// container's veth going away makes the kernel walk the whole conntrack table (MASQUERADE's
// device notifier: `nf_ct_iterate_cleanup` in a kworker), and the lab's ~1M entries were still
// in it (closed connections linger in TIME_WAIT): 51 walks of 1M entries. Deleting the lab's
// entries first (`conntrack -D -s <client subnet>`: 12 s for 1M) made the stop take 47 s. Only
// the lab's own client subnets are touched; a closing socket's FIN creates no new entry.
//
// A client holding ~20k sockets also takes a while to die ("PID ... is zombie and can not be
// killed"), and the provider's delete then fails with "tried to kill container, but did not
// receive an exit event". So the stop retries the stragglers, and the provider only removes
// stopped containers.
import { cmd, script } from "../shell.js";
import { CLIENT_HUP_LABEL, CLIENT_RESET_MARK } from "../../shared/protocol.js";

/** Deletes the conntrack entries of connections from the lab's client subnets (nothing when the tool is missing). */
export function conntrackFlushLines(subnets: string[]): string[] {
  if (subnets.length === 0) return [];
  return [
    "if command -v conntrack >/dev/null 2>&1; then",
    // conntrack exits 1 when nothing matched; its count goes to stderr.
    `  for subnet in ${cmd(...subnets)}; do conntrack -D -s "$subnet" 2>&1 >/dev/null | sed 's/^/c1m-lab: /' >&2 || true; done`,
    "else",
    `  echo "c1m-lab: no conntrack tool (apt-get install conntrack): stopping clients with many connections will be slower" >&2`,
    "fi",
  ];
}

/**
 * How long a stopping client may take to reset its connections before docker kills it. Measured
 * at 1M (51 clients × 19,608, 2026-12-06): with 10 s the clients, stopped all at once on 2 cores,
 * were killed mid-reset; the rest of their sockets closed with FIN, ~130k orphans piled up
 * ("TCP: too many orphaned sockets"), and each time the engine lost its connection to the command
 * provider ("error reading from server: connection reset by peer"). docker stop returns as soon
 * as a client exits, so a long bound costs nothing when they are quick.
 */
export const CLIENT_STOP_GRACE_SECONDS = 180;

/** How long the stop waits for the clients to say they reset their connections. */
export const CLIENT_RESET_SECONDS = 120;

/**
 * SIGHUP to every running client: each resets its connections while the NAT entries still map
 * them, so the RSTs reach the server and it closes its side at once (at 1M its namespace's
 * `ss -K` had taken 60–76 s of the destroy), and says so in its log (CLIENT_RESET_MARK). Waits
 * until every one still running has said it, or the bound passes. Only clients whose image has
 * CLIENT_HUP_LABEL: an older client, PID 1 in its container, would ignore the signal, and its
 * connections close with FIN at the stop as before.
 */
export function clientsResetLines(list: string, seconds: number): string[] {
  return [
    `ids=($(${list}))`,
    `docker kill --signal HUP "\${ids[@]}" >/dev/null 2>&1 || true`,
    // In order, one client at a time: a docker CLI call costs ~40 ms of CPU, and the clients reset
    // at about the same time, so this makes about one call per client and one per second.
    "i=0",
    `for _ in $(seq 1 ${seconds}); do`,
    '  while [ "$i" -lt "${#ids[@]}" ]; do',
    "    id=${ids[$i]}",
    `    if docker logs --tail 3 "$id" 2>/dev/null | grep -qF ${cmd(CLIENT_RESET_MARK)} || [ "$(docker inspect -f '{{.State.Running}}' "$id" 2>/dev/null)" != true ]; then i=$((i + 1)); else break; fi`,
    "  done",
    '  [ "$i" -lt "${#ids[@]}" ] || break',
    "  sleep 1",
    "done",
  ];
}

export function clientsStopScript(
  labelFilter: string,
  options: { subnets?: string[]; rounds?: number; graceSeconds?: number; resetSeconds?: number } = {},
): string {
  const rounds = options.rounds ?? 20;
  const list = `docker ps -q --filter ${cmd(`label=${labelFilter}`)} --filter label=c1m-lab.role=client`;
  return script("client containers stop", [
    `[ -n "$(${list})" ] || exit 0`,
    ...clientsResetLines(`${list} --filter ${cmd(`label=${CLIENT_HUP_LABEL}`)}`, options.resetSeconds ?? CLIENT_RESET_SECONDS),
    ...conntrackFlushLines(options.subnets ?? []),
    "stopped=()",
    `for round in $(seq 1 ${rounds}); do`,
    `  ids=$(${list})`,
    `  [ -n "$ids" ] || break`,
    "  stopped+=($ids)",
    `  docker stop -t ${options.graceSeconds ?? CLIENT_STOP_GRACE_SECONDS} $ids >/dev/null 2>&1 || sleep 3`,
    `done`,
    `if [ -n "$(${list})" ]; then echo "c1m-lab: client containers still running after ${rounds} rounds of docker stop" >&2; exit 1; fi`,
    // A client killed (137) did not finish resetting its connections: the rest closed with FIN.
    `[ "\${#stopped[@]}" -gt 0 ] || exit 0`,
    `killed=$(docker inspect -f '{{.Name}} {{.State.ExitCode}}' "\${stopped[@]}" 2>/dev/null | awk '$2 == 137 { printf "%s%s", n++ ? ", " : "", substr($1, 2) }')`,
    `[ -z "$killed" ] || echo "c1m-lab: killed before they had reset their connections (the rest closed with FIN): $killed" >&2`,
  ]);
}

/**
 * One client's drain, before the docker provider removes it on a replace (a changed server, NAT
 * pool or client setting): `docker stop` until it is down, then its conntrack entries. On
 * destroy the fleet-wide stop has run first, so this finds the client stopped and does nothing.
 * Only a running container of this stack is touched.
 */
export function containerDrainScript(name: string, labelFilter: string): string {
  const [label, value] = labelFilter.split("=") as [string, string];
  return script(`client ${name} drain`, [
    `name=${cmd(name)}`,
    `[ "$(docker inspect -f '{{index .Config.Labels ${JSON.stringify(label)}}}' "$name" 2>/dev/null || true)" = ${cmd(value)} ] || exit 0`,
    `[ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)" = true ] || exit 0`,
    `ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$name")`,
    "for round in $(seq 1 20); do",
    `  [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)" = true ] || break`,
    `  docker stop -t ${CLIENT_STOP_GRACE_SECONDS} "$name" >/dev/null 2>&1 || sleep 3`,
    "done",
    `[ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)" != true ] || { echo "c1m-lab: client $name still running after 20 rounds of docker stop" >&2; exit 1; }`,
    // After the stop, not before: its FINs must reach the server through the NAT entries (the
    // server keeps a connection whose FIN was mapped anew), and the closed entries then go.
    "if command -v conntrack >/dev/null 2>&1; then",
    `  for a in $ip; do conntrack -D -s "$a" >/dev/null 2>&1 || true; done`,
    "fi",
  ]);
}

/**
 * At destroy, after the docker provider removed the containers it knows: any client of this
 * stack still there (one whose create was cut short by a killed `up`, in no state) is removed,
 * so the networks and the image can go.
 */
export function clientsSweepScript(labelFilter: string): string {
  return script("client containers sweep", [
    `ids=$(docker ps -aq --filter ${cmd(`label=${labelFilter}`)} --filter label=c1m-lab.role=client)`,
    `[ -z "$ids" ] || { echo "c1m-lab: removing client containers in no state: $ids" >&2; docker rm -f $ids >/dev/null; }`,
  ]);
}
