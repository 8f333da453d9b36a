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
