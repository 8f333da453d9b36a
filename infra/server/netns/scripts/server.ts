// The connection server as a detached process inside the namespace. Pure: bash scripts.
import { SUDO_PRELUDE, cmd, q, script } from "../../../shell.js";

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
  return script("connection server start", [
    ...SUDO_PRELUDE,
    `as_root mkdir -p ${q(a.stateDir)}`,
    // A re-run (update) replaces the running server.
    stopServerLines(pid, a.namespace),
    ...startServerLines(a),
  ]);
}

/**
 * The connection test's reconnect storm: the server dies as a crash would (KILL to its process
 * group, no `ss -K` first), then starts again with the same command. The kernel closes a dead
 * process's sockets as close() would: FIN for an idle connection (RST for one with unread bytes,
 * e.g. a ping not yet read), which is what the clients of a crashed or restarted server see;
 * the clients answer, so nothing lingers as an orphan. The old log goes first: the ready check
 * must not read the old server's "listening".
 */
/** How long a restart waits for the killed server to be gone (its sockets closed by the kernel). */
export const RESTART_EXIT_WAIT_SECONDS = 300;

export function serverRestartScript(a: ServerProcessArgs): string {
  const pid = `${a.stateDir}/server.pid`;
  return script("connection server restart", [
    ...SUDO_PRELUDE,
    `[ -f ${q(pid)} ] || { echo "c1m-lab: no connection server to restart (${pid} is missing)" >&2; exit 1; }`,
    `p=$(cat ${q(pid)})`,
    `as_root kill -KILL -- "-$p" 2>/dev/null || true`,
    // Until every process of the group is gone: at 1M the kernel takes tens of seconds to close
    // the dead server's sockets, and a new server started before then found its ports still
    // taken (it exited at once; seen at 1M with a 10 s wait).
    `for _ in $(seq 1 ${RESTART_EXIT_WAIT_SECONDS * 10}); do pgrep -g "$p" >/dev/null || break; sleep 0.1; done`,
    `if pgrep -g "$p" >/dev/null; then echo "c1m-lab: the killed server's processes (group $p) are still exiting after ${RESTART_EXIT_WAIT_SECONDS} s" >&2; exit 1; fi`,
    `as_root rm -f ${q(pid)} ${q(`${a.stateDir}/server.log`)}`,
    ...startServerLines(a),
  ]);
}

/** Starts the server detached and waits until it listens (prints its pid), or fails with its log. */
function startServerLines(a: ServerProcessArgs): string[] {
  const pid = `${a.stateDir}/server.pid`;
  const log = `${a.stateDir}/server.log`;
  return [
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
  ];
}

export function serverStopScript(a: Pick<ServerProcessArgs, "stateDir" | "namespace">): string {
  const pid = `${a.stateDir}/server.pid`;
  return script("connection server stop", [
    ...SUDO_PRELUDE,
    stopServerLines(pid, a.namespace),
    `as_root rm -f ${q(`${a.stateDir}/server.log`)}`,
  ]);
}

/**
 * Resets the namespace's established connections (`ss -K`: the kernel sends RST and closes
 * them), then TERM to the server's process group (primary and workers), KILL after 10 s. An exit
 * would close each connection with FIN instead, and at a million the kernel kept ~120k of them
 * as orphans ("TCP: too many orphaned sockets") in a namespace deleted right after, where no
 * answer could come. The namespace is the lab's own: nothing else's connections are in it.
 */
function stopServerLines(pid: string, namespace: string): string {
  return [
    `if [ -f ${q(pid)} ]; then`,
    `  as_root ${cmd("ip", "netns", "exec", namespace, "ss", "-K", "-tnH", "state", "established")} >/dev/null 2>&1 || true`,
    `  p=$(cat ${q(pid)})`,
    `  as_root kill -TERM -- "-$p" 2>/dev/null || true`,
    `  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done`,
    `  as_root kill -KILL -- "-$p" 2>/dev/null || true`,
    `  as_root rm -f ${q(pid)}`,
    `fi`,
  ].join("\n");
}
