// Sysctls on a server VM: /etc/sysctl.d/60-c1m-lab.conf, raising limits only where the host is
// below the plan, recording what was there so destroy puts it back. Pure: each returns a bash script.
import { FAIL, ScriptInputError, cmd, q, script, writeText } from "../../../shell.js";
import { REMOTE, checkPath, checkRoot } from "./checks.js";
export const SYSCTL_CONF_PATH = "/etc/sysctl.d/60-c1m-lab.conf";
export const MODULES_LOAD_PATH = "/etc/modules-load.d/c1m-lab.conf";

const SYSCTL_KEY = /^(net|fs|kernel|vm)\.[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

/** Checked and normalised (single spaces) sysctl values. */
export function normaliseSysctls(sysctls: Record<string, string | number>, where = "sysctls"): [string, string][] {
  return Object.entries(sysctls).map(([key, value]) => {
    if (!SYSCTL_KEY.test(key)) {
      throw new ScriptInputError(`${where}: key ${JSON.stringify(key)} is not valid: use a sysctl key like net.core.somaxconn`);
    }
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      throw new ScriptInputError(
        `${where}: ${key} = ${value} is not a whole number JavaScript holds exactly; pass it as a string`,
      );
    }
    const text = String(value).trim().replace(/\s+/g, " ");
    if (!/^-?\d+( -?\d+)*$/.test(text)) {
      throw new ScriptInputError(
        `${where}: ${key} = ${JSON.stringify(value)} is not valid: use whole numbers like 1024 or '1024 65535'`,
      );
    }
    return [key, text];
  });
}

/** The text of /etc/sysctl.d/60-c1m-lab.conf. */
export function renderSysctlConf(sysctls: Record<string, string | number>): string {
  const entries = normaliseSysctls(sysctls, "renderSysctlConf");
  return [
    "# Written by c1m-lab (Tuning). Previous values are recorded and restored by pulumi destroy.",
    ...entries.map(([k, v]) => `${k} = ${v}`),
    "",
  ].join("\n");
}

export interface SysctlOptions {
  sysctls: Record<string, string | number>;
  /** Limits raised to at least this value and never lowered (a host's own higher value stays). */
  raise?: Record<string, number>;
  /** Where the values before the lab are kept (sysctl.before, mode 0600), e.g. /var/lib/c1m-lab. */
  stateDir: string;
  root?: string;
}

/** Both scripts' start: the remote prelude, and where the conf files and the record of the values before live. */
function prelude(root: string, stateDir: string): string[] {
  return [
    ...REMOTE,
    ...FAIL,
    `conf=${q(root + SYSCTL_CONF_PATH)}`,
    `mods=${q(root + MODULES_LOAD_PATH)}`,
    `state=${q(stateDir)}`,
    'before="$state/sysctl.before"',
  ];
}

/**
 * `restore`: deletes the conf files and puts back every recorded value, then forgets the record;
 * returns 1 (the record kept, to retry) when a value could not be put back.
 */
const RESTORE_FUNCTION = [
  "restore() {",
  '  as_root rm -f -- "$conf" "$mods"',
  '  as_root test -f "$before" || return 0',
  "  local failed=0 line key val",
  "  while IFS= read -r line; do",
  "    case \"$line\" in ''|'#'*) continue ;; esac",
  "    key=${line%% = *}",
  "    val=${line#* = }",
  '    if ! as_root sysctl -n "$key" >/dev/null 2>&1; then echo "c1m-lab: note: $key no longer exists; nothing to restore" >&2; continue; fi',
  '    if ! as_root timeout 30 sysctl -q -w "$key=$val" >/dev/null; then echo "c1m-lab: could not restore $key to $val" >&2; failed=1; fi',
  '  done < <(as_root cat -- "$before")',
  '  [ "$failed" = 0 ] || return 1',
  '  as_root rm -f -- "$before"',
  '  as_root rmdir -- "$state" 2>/dev/null || true',
  "}",
];

/**
 * Loads nf_conntrack (its keys must exist before they are recorded or set), records each key's
 * value once (a re-run keeps the first record; a key that does not exist fails here, before any
 * file is written), writes /etc/modules-load.d/c1m-lab.conf and /etc/sysctl.d/60-c1m-lab.conf,
 * applies that file with `sysctl -p` and checks every value took. A create that fails after it
 * began writing puts back the recorded values and removes both files before it exits, and says
 * so (a failed create is not in the state: no destroy would); one that fails before removes the
 * record it started.
 */
export function installSysctlScript(opts: SysctlOptions): string {
  const where = "installSysctlScript";
  const root = checkRoot(opts.root, where);
  const stateDir = checkPath(opts.stateDir, "stateDir", where);
  const entries = normaliseSysctls(opts.sysctls, where);
  const raised = normaliseSysctls(opts.raise ?? {}, where).filter(([k]) => !(k in opts.sysctls));
  return script("install sysctls", [
    ...prelude(root, stateDir),
    "norm() { tr -s '[:blank:]' ' ' | sed 's/^ //; s/ $//'; }",
    ...RESTORE_FUNCTION,
    'as_root mkdir -p -- "$state" "$(dirname -- "$conf")" "$(dirname -- "$mods")"',
    'as_root chmod 0700 -- "$state"',
    "tmp=$(mktemp)",
    "new_record=0",
    "changed=0",
    "undo() {",
    '  if [ "$changed" = 1 ]; then',
    "    if restore; then",
    '      echo "c1m-lab: install sysctls failed: put back the values recorded before it and removed $conf" >&2',
    "    else",
    '      echo "c1m-lab: install sysctls failed, and some values could not be put back: $before is kept (re-run, or destroy, to retry)" >&2',
    "    fi",
    '  elif [ "$new_record" = 1 ]; then',
    '    as_root rm -f -- "$before"',
    '    as_root rmdir -- "$state" 2>/dev/null || true',
    "  fi",
    "}",
    'trap \'rc=$?; rm -f -- "$tmp"; [ "$rc" = 0 ] || undo\' EXIT',
    // Load nf_conntrack first: its keys must exist before they are recorded or set.
    "if [ ! -e /proc/sys/net/netfilter/nf_conntrack_max ]; then",
    "  if command -v modprobe >/dev/null 2>&1 && as_root timeout 30 modprobe nf_conntrack 2>/dev/null; then",
    '    echo "c1m-lab: loaded nf_conntrack"',
    "  else",
    '    echo "c1m-lab: note: could not load nf_conntrack (built into the kernel, or in a container); continuing" >&2',
    "  fi",
    "fi",
    'if ! as_root test -f "$before"; then as_root touch -- "$before"; as_root chmod 0600 -- "$before"; new_record=1; fi',
    "record() {",
    `  if as_root awk -v k="$1" '$1 == k { f = 1 } END { exit !f }' "$before"; then return 0; fi`,
    "  local v",
    '  v=$(as_root sysctl -n "$1" 2>/dev/null) || fail "sysctl $1 does not exist here (kernel module missing, or not available in this namespace or container)"',
    '  v=$(printf "%s" "$v" | norm)',
    `  printf '%s = %s\\n' "$1" "$v" | as_root tee -a -- "$before" >/dev/null`,
    "}",
    ...[...entries, ...raised].map(([k]) => cmd("record", k)),
    // Nothing is written before every key has proved to exist; from here on a failure is undone.
    "changed=1",
    writeText("# Written by c1m-lab: conntrack for the NAT host's table size\nnf_conntrack\n", '"$tmp"'),
    'as_root install -o root -g root -m 0644 -- "$tmp" "$mods"',
    writeText(renderSysctlConf(opts.sysctls), '"$tmp"'),
    // Raise-only keys: the larger of the host's value and the plan's.
    ...raised.flatMap(([k, v], i) => [
      `raise_${i}=$(as_root sysctl -n ${q(k)} | norm)`,
      `if [ "$raise_${i}" -lt ${q(v)} ]; then raise_${i}=${q(v)}; fi`,
      `printf '%s = %s\\n' ${q(k)} "$raise_${i}" >> "$tmp"`,
    ]),
    'as_root install -o root -g root -m 0644 -- "$tmp" "$conf"',
    'if ! out=$(as_root timeout 60 sysctl -p "$conf" 2>&1); then',
    `  printf '%s\\n' "$out" >&2`,
    '  fail "sysctl -p $conf failed"',
    "fi",
    "check() {",
    '  local got; got=$(as_root sysctl -n "$1" | norm)',
    `  [ "$got" = "$2" ] || fail "sysctl $1 is '$got' after writing '$2' (the kernel rejected or capped it)"`,
    "}",
    ...entries.map(([k, v]) => cmd("check", k, v)),
    ...raised.map(([k], i) => `check ${q(k)} "$raise_${i}"`),
    `echo "c1m-lab: ${entries.length + raised.length} sysctls set from $conf"`,
  ]);
}

/** Deletes the conf files and puts back every recorded value; idempotent. */
export function restoreSysctlScript(opts: { stateDir: string; root?: string }): string {
  const where = "restoreSysctlScript";
  const root = checkRoot(opts.root, where);
  const stateDir = checkPath(opts.stateDir, "stateDir", where);
  return script("restore sysctls", [
    ...prelude(root, stateDir),
    ...RESTORE_FUNCTION,
    'if ! as_root test -f "$before"; then as_root rm -f -- "$conf" "$mods"; echo "c1m-lab: no recorded sysctls in $state; nothing to restore"; exit 0; fi',
    'restore || fail "some sysctls were not restored; $before is kept: re-run to retry"',
    'echo "c1m-lab: sysctls restored"',
  ]);
}
