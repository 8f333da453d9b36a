// sysctls on this machine (raise-only limits, the stack's own values) and in the server namespace,
// with the previous values recorded so destroy puts them back. Pure: bash scripts.
import { SUDO_PRELUDE, cmd, q, script } from "../../../shell.js";

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
export const procPath = (key: string) => `/proc/sys/${key.replace(/\./g, "/")}`;

/**
 * A create that fails puts back the keys it recorded itself and drops their records before it
 * exits (a failed create is not in the state, so no destroy would); keys an earlier, successful
 * create recorded stay, for that resource's own delete.
 */
export function tuningCreateScript(a: TuningArgs): string {
  const dir = `${a.stateDir}/sysctl.before`;
  const ours = `${a.stateDir}/sysctl.set`;
  return script("tuning create", [
    ...SUDO_PRELUDE,
    `as_root mkdir -p ${q(dir)} ${q(ours)}`,
    "fresh=()",
    "undo() {",
    '  for key in "${fresh[@]}"; do',
    `    as_root sysctl -qw "$key=$(cat ${q(dir)}/"$key")" || echo "c1m-lab: could not put $key back" >&2`,
    `    as_root rm -f ${q(dir)}/"$key" ${q(ours)}/"$key"`,
    "  done",
    `  as_root rmdir ${q(ours)} ${q(dir)} ${q(a.stateDir)} 2>/dev/null || true`,
    '  echo "c1m-lab: tuning create failed: put back the ${#fresh[@]} host key(s) it had changed" >&2',
    "}",
    `trap 'rc=$?; [ "$rc" = 0 ] || undo' EXIT`,
    // Records a key's value once, so re-running create never records our own value.
    `remember() { [ -f ${q(dir)}/"$1" ] && return 0; local v; v=$(cat "/proc/sys/$(echo "$1" | tr . /)") || return 1; printf '%s\\n' "$v" | as_root tee ${q(dir)}/"$1" >/dev/null; fresh+=("$1"); }`,
    // What the lab set, as the kernel shows it: delete restores a key only while it still holds this.
    `mine() { cat "/proc/sys/$(echo "$1" | tr . /)" | as_root tee ${q(ours)}/"$1" >/dev/null; }`,
    `[ -e ${q(procPath("net.netfilter.nf_conntrack_max"))} ] || as_root modprobe nf_conntrack 2>/dev/null || true`,
    // A key this kernel lacks (tcp_child_ehash_entries before 6.1) is said and left.
    ...Object.entries(a.raise).flatMap(([key, want]) => [
      `if [ ! -e ${q(procPath(key))} ]; then echo ${q(`c1m-lab: tuning: ${key} is not on this kernel: left`)} >&2; ` +
        `elif [ "$(cat ${q(procPath(key))})" -lt ${q(want)} ]; then remember ${q(key)}; as_root sysctl -qw ${q(`${key}=${want}`)}; mine ${q(key)}; fi`,
    ]),
    ...Object.entries(a.set).map(
      ([key, value]) => `remember ${q(key)}; as_root sysctl -qw ${q(`${key}=${value}`)}; mine ${q(key)}`,
    ),
    ...(a.namespace
      ? Object.entries(a.namespaceSysctls).map(
          ([key, value]) => `as_root ${cmd("ip", "netns", "exec", a.namespace!, "sysctl", "-qw", `${key}=${value}`)}`,
        )
      : []),
  ]);
}

/**
 * Puts back each key the lab changed, unless it no longer holds the lab's value: another lab on
 * this machine (or the user) changed it since, and restoring would undo theirs. Seen here: a test
 * stack's destroy put nf_conntrack_max back to 262,144 under a running million lab, the table
 * filled, and the engine's own loopback connections to its plugins were dropped.
 */
export function tuningDeleteScript(a: Pick<TuningArgs, "stateDir">): string {
  const dir = `${a.stateDir}/sysctl.before`;
  const ours = `${a.stateDir}/sysctl.set`;
  return script("tuning delete", [
    ...SUDO_PRELUDE,
    `[ -d ${q(dir)} ] || exit 0`,
    `norm() { tr -s ' \t' '  '; }`,
    `for f in ${q(dir)}/*; do`,
    `  [ -f "$f" ] || continue`,
    `  key=$(basename "$f"); now=$(norm < "/proc/sys/$(echo "$key" | tr . /)")`,
    `  if [ -f ${q(ours)}/"$key" ] && [ "$now" != "$(norm < ${q(ours)}/"$key")" ]; then`,
    `    echo "c1m-lab: $key is $now, not the value the lab set ($(norm < ${q(ours)}/"$key")): someone changed it since, left as it is" >&2`,
    `  else`,
    `    as_root sysctl -qw "$key=$(cat "$f")"`,
    `  fi`,
    `  as_root rm -f "$f" ${q(ours)}/"$key"`,
    `done`,
    `as_root rm -rf ${q(ours)}`,
    `as_root rmdir ${q(dir)}`,
    // The state dir goes too once nothing else (the netns host's pid and log files) is in it.
    `as_root rmdir ${q(a.stateDir)} 2>/dev/null || true`,
  ]);
}
