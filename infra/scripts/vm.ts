// Script builders for a server VM (multipass or an adopted ssh host): netplan secondary
// addresses, sysctls, the server's systemd unit, and the local helpers around multipass and ssh.
// Pure: each function returns a bash script; Command resources run them, tests run them for real.
// Every interpolated value goes through `q`. Remote scripts start with SUDO_PRELUDE (the ssh user
// may not be root) and wrap anything that could hang in `timeout`.
//
// `root` (default "") prefixes the fixed system paths (/etc/netplan, /etc/sysctl.d, ...) so the
// integration tests can run the scripts without writing the real /etc.
import { Document } from "yaml";
import { DROP_IN_PATH, isInterfaceName, isIpv4Cidr, isMacAddress } from "../../netplan/render.js";
import { SUDO_PRELUDE, cmd, q, script } from "./shell.js";

export class ScriptInputError extends Error {
  override name = "ScriptInputError";
}

export const SYSCTL_CONF_PATH = "/etc/sysctl.d/60-c1m-lab.conf";
export const MODULES_LOAD_PATH = "/etc/modules-load.d/c1m-lab.conf";
export const SERVER_UNIT_NAME = "c1m-lab-server";
export const SERVER_WORKDIR = "/opt/c1m-lab";

/** Shared shell helpers: `fail` prints one clear line and exits. */
const FAIL = ['fail() { echo "c1m-lab: $*" >&2; exit 1; }'];
/** Remote prelude: root or passwordless sudo, and the sbin directories (ip, sysctl, netplan) even for a plain user's PATH. */
const REMOTE = [...SUDO_PRELUDE, 'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"'];

// ---------------------------------------------------------------------------------------------
// Input checks (the config schema constrains most of these already; the builders do not rely on it)

function checkRoot(root: string | undefined, where: string): string {
  const r = root ?? "";
  if (r !== "" && (!/^\/[A-Za-z0-9_./-]*[A-Za-z0-9_.-]$/.test(r) || r.split("/").includes(".."))) {
    throw new ScriptInputError(
      `${where}: root ${JSON.stringify(r)} is not valid: use "" or an absolute directory path without a trailing slash`,
    );
  }
  return r;
}

function checkPath(value: string, name: string, where: string): string {
  if (typeof value !== "string" || value === "" || /[\0\n\r]/.test(value)) {
    throw new ScriptInputError(
      `${where}: ${name} ${JSON.stringify(value)} is not valid: use a non-empty file path without newlines`,
    );
  }
  return value;
}

function checkAbsolute(value: string, name: string, where: string): string {
  if (typeof value !== "string" || !/^\/[A-Za-z0-9_.+@/-]*$/.test(value) || value.split("/").includes("..")) {
    throw new ScriptInputError(
      `${where}: ${name} ${JSON.stringify(value)} is not valid: use an absolute path of letters, digits, '_', '.', '+', '@', '-', '/'`,
    );
  }
  return value;
}

function checkIface(iface: string, where: string): string {
  if (typeof iface !== "string" || !isInterfaceName(iface)) {
    throw new ScriptInputError(
      `${where}: iface ${JSON.stringify(iface)} is not valid: use an interface name (1-15 letters, digits, '_', '.', '-'), e.g. ens3`,
    );
  }
  return iface;
}

function checkAddresses(addresses: string[], where: string): string[] {
  if (!Array.isArray(addresses) || addresses.length === 0) {
    throw new ScriptInputError(`${where}: addresses must list at least one address like 192.168.49.15/24`);
  }
  for (const [i, a] of addresses.entries()) {
    if (typeof a !== "string" || !isIpv4Cidr(a)) {
      throw new ScriptInputError(
        `${where}: addresses[${i}] ${JSON.stringify(a)} is not valid: use an IPv4 address with prefix length like 192.168.49.15/24`,
      );
    }
  }
  return addresses;
}

function checkInt(value: number, name: string, where: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ScriptInputError(
      `${where}: ${name} ${JSON.stringify(value)} is not valid: use a whole number from ${min} to ${max}`,
    );
  }
  return value;
}

function checkHost(value: string, name: string, where: string): string {
  if (typeof value !== "string" || !/^[A-Za-z0-9]([A-Za-z0-9.:-]{0,251}[A-Za-z0-9])?$/.test(value)) {
    throw new ScriptInputError(`${where}: ${name} ${JSON.stringify(value)} is not valid: use a host name or IP address`);
  }
  return value;
}

function checkUser(value: string, where: string): string {
  if (typeof value !== "string" || !/^[a-z_][a-z0-9_-]{0,31}$/.test(value)) {
    throw new ScriptInputError(`${where}: user ${JSON.stringify(value)} is not valid: use a Unix user name like ubuntu`);
  }
  return value;
}

function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** `printf '%s\n' line...` writing `text` (ending in a newline) to the file named by the shell expression `dest`. */
function writeText(text: string, dest: string): string {
  const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  return `printf '%s\\n' ${lines.map(q).join(" ")} > ${dest}`;
}

// ---------------------------------------------------------------------------------------------
// Netplan: probe the host's files, install / remove the drop-in

export interface NetplanProbe {
  files: { path: string; text: string }[];
  links: { name: string; mac?: string }[];
}

/**
 * Prints one JSON line: the netplan files in /lib, /etc and /run/netplan (path and text, base64) and
 * the host's interfaces with their MACs. parseNetplanProbe decodes it for findNetplanId.
 */
export function netplanIdProbeScript(opts: { root?: string } = {}): string {
  const root = checkRoot(opts.root, "netplanIdProbeScript");
  return script("netplan-probe", [
    ...REMOTE,
    `root=${q(root)}`,
    `printf '{"files":['`,
    "sep=",
    "for d in lib etc run; do",
    '  for f in "$root/$d/netplan/"*.yaml; do',
    '    as_root test -f "$f" || continue',
    `    p=$(printf '%s' "\${f#"$root"}" | base64 -w0)`,
    '    t=$(as_root timeout 10 base64 -w0 -- "$f")',
    `    printf '%s{"pathBase64":"%s","textBase64":"%s"}' "$sep" "$p" "$t"`,
    "    sep=,",
    "  done",
    "done",
    `printf '],"links":['`,
    "sep=",
    "for l in /sys/class/net/*; do",
    '  [ -e "$l" ] || continue',
    `  n=$(printf '%s' "\${l##*/}" | base64 -w0)`,
    '  m=$(cat -- "$l/address" 2>/dev/null || true)',
    '  case "$m" in *[!0-9a-fA-F:]*) m= ;; esac',
    `  printf '%s{"nameBase64":"%s","mac":"%s"}' "$sep" "$n" "$m"`,
    "  sep=,",
    "done",
    `printf ']}\\n'`,
  ]);
}

/** Decodes netplanIdProbeScript's output (the last JSON line of stdout). */
export function parseNetplanProbe(stdout: string): NetplanProbe {
  const line = stdout
    .split("\n")
    .reverse()
    .find((l) => l.startsWith('{"files":'));
  if (!line)
    throw new ScriptInputError(`netplan probe printed no result; its output began: ${JSON.stringify(stdout.slice(0, 200))}`);
  const raw = JSON.parse(line) as {
    files: { pathBase64: string; textBase64: string }[];
    links: { nameBase64: string; mac: string }[];
  };
  const b64 = (s: string) => Buffer.from(s, "base64").toString("utf8");
  return {
    files: raw.files.map((f) => ({ path: b64(f.pathBase64), text: b64(f.textBase64) })),
    links: raw.links.map((l) =>
      isMacAddress(l.mac) ? { name: b64(l.nameBase64), mac: l.mac.toLowerCase() } : { name: b64(l.nameBase64) },
    ),
  };
}

const HAS_ADDR = [
  // No `grep -q` in a pipe: with pipefail an early exit makes `ip` die of SIGPIPE and the test lie.
  'has_addr() { ip -o addr show dev "$iface" | grep -F -- " inet $1 " >/dev/null; }',
  'missing_addrs() { local a out=""; for a in "${addresses[@]}"; do has_addr "$a" || out="$out $a"; done; printf "%s" "$out"; }',
];

export interface InstallNetplanOptions {
  /** Where remote.CopyToRemote put the rendered drop-in (owned by the ssh user). */
  stagedPath: string;
  /** The addresses the drop-in adds (checked on the interface afterwards). */
  addresses: string[];
  iface: string;
  root?: string;
  /** How long to wait for the addresses after `netplan apply`; default 30 s. */
  waitSeconds?: number;
}

/**
 * Validates the candidate set (the host's netplan files + the staged drop-in) with
 * `netplan generate --root-dir` in a temp root, and only then installs /etc/netplan/60-c1m-lab.yaml
 * (root, 0600), runs `netplan apply` (rolled back if it fails) and waits for every address on the
 * interface. Addresses an earlier version of the drop-in added and this one drops are deleted.
 */
export function installNetplanDropInScript(opts: InstallNetplanOptions): string {
  const where = "installNetplanDropInScript";
  const root = checkRoot(opts.root, where);
  const staged = checkPath(opts.stagedPath, "stagedPath", where);
  const iface = checkIface(opts.iface, where);
  const addresses = checkAddresses(opts.addresses, where);
  const wait = checkInt(opts.waitSeconds ?? 30, "waitSeconds", where, 1, 3600);
  return script("install netplan drop-in", [
    ...REMOTE,
    ...FAIL,
    `staged=${q(staged)}`,
    `iface=${q(iface)}`,
    `root=${q(root)}`,
    `dest=${q(root + DROP_IN_PATH)}`,
    `addresses=(${addresses.map(q).join(" ")})`,
    ...HAS_ADDR,
    '[ -f "$staged" ] || fail "the staged drop-in $staged is missing: upload it first"',
    'command -v netplan >/dev/null 2>&1 || fail "netplan is not installed on $(hostname): this step needs netplan.io (Ubuntu)"',
    "ip link show dev \"$iface\" >/dev/null 2>&1 || fail \"interface $iface does not exist on $(hostname) (it has: $(ls /sys/class/net | tr '\\n' ' '))\"",
    // 1. Validate the candidate set in a throwaway root: nothing is installed if netplan rejects it.
    "cand=$(as_root mktemp -d)",
    "prev=",
    'cleanup() { as_root rm -rf -- "$cand" ${prev:+"$prev"}; }',
    "trap cleanup EXIT",
    "for d in lib etc run; do",
    '  as_root mkdir -p -- "$cand/$d/netplan"',
    '  for f in "$root/$d/netplan/"*.yaml; do',
    '    as_root test -f "$f" || continue',
    '    as_root cp -p -- "$f" "$cand/$d/netplan/"',
    "  done",
    "done",
    'as_root install -o root -g root -m 0600 -- "$staged" "$cand/etc/netplan/60-c1m-lab.yaml"',
    'if ! out=$(as_root timeout 60 netplan generate --root-dir "$cand" 2>&1); then',
    `  printf '%s\\n' "$out" >&2`,
    '  fail "netplan generate rejected the configuration with the drop-in; nothing was installed or applied"',
    "fi",
    'for a in "${addresses[@]}"; do',
    // -q: a missing directory (networkd or NetworkManager output) must not turn a match into status 2.
    '  as_root grep -rqsF -- "$a" "$cand/run/systemd/network" "$cand/run/NetworkManager" ||',
    '    fail "netplan generate did not render address $a (does the drop-in use the netplan ID that configures $iface?); nothing was installed"',
    "done",
    // 2. Install (atomically; a *.c1m-new name is not read by netplan).
    "changed=1",
    "old=",
    'if as_root test -f "$dest"; then',
    '  if as_root cmp -s -- "$staged" "$dest"; then changed=0; fi',
    "  prev=$(as_root mktemp)",
    '  as_root cp -p -- "$dest" "$prev"',
    "  old=$(as_root grep -oE '[0-9]+(\\.[0-9]+){3}/[0-9]+' -- \"$dest\" || true)",
    "fi",
    'as_root mkdir -p -- "$(dirname -- "$dest")"',
    'as_root install -o root -g root -m 0600 -- "$staged" "$dest.c1m-new"',
    'as_root mv -f -- "$dest.c1m-new" "$dest"',
    // 3. Apply (also when unchanged but an address went missing); roll back on failure.
    'if [ "$changed" = 1 ] || [ -n "$(missing_addrs)" ]; then',
    "  if ! out=$(as_root timeout 120 netplan apply 2>&1); then",
    `    printf '%s\\n' "$out" >&2`,
    '    if [ -n "$prev" ]; then as_root cp -p -- "$prev" "$dest"; else as_root rm -f -- "$dest"; fi',
    "    as_root timeout 120 netplan apply >/dev/null 2>&1 || true",
    '    fail "netplan apply failed; the previous netplan configuration was put back"',
    "  fi",
    "fi",
    // 4. Check every address is on the interface (bounded wait).
    `deadline=$((SECONDS + ${wait}))`,
    'while missing=$(missing_addrs); [ -n "$missing" ]; do',
    '  if [ "$SECONDS" -ge "$deadline" ]; then',
    '    ip -o addr show dev "$iface" >&2 || true',
    `    fail "after netplan apply, $iface still lacks:$missing (waited ${wait}s)"`,
    "  fi",
    "  sleep 1",
    "done",
    // 5. Addresses the previous drop-in had and this one does not.
    "for a in $old; do",
    "  keep=0",
    '  for b in "${addresses[@]}"; do [ "$a" = "$b" ] && keep=1; done',
    '  if [ "$keep" = 0 ] && has_addr "$a"; then as_root ip addr del "$a" dev "$iface"; echo "c1m-lab: deleted $a (no longer listed)"; fi',
    "done",
    'echo "c1m-lab: $iface carries the lab addresses ${addresses[*]} ($dest)"',
  ]);
}

/** Idempotent: removes the drop-in if present, re-applies netplan, deletes any of our addresses still there. */
export function removeNetplanDropInScript(opts: { addresses: string[]; iface: string; root?: string }): string {
  const where = "removeNetplanDropInScript";
  const root = checkRoot(opts.root, where);
  const iface = checkIface(opts.iface, where);
  const addresses = checkAddresses(opts.addresses, where);
  return script("remove netplan drop-in", [
    ...REMOTE,
    `iface=${q(iface)}`,
    `dest=${q(root + DROP_IN_PATH)}`,
    `addresses=(${addresses.map(q).join(" ")})`,
    ...HAS_ADDR,
    'as_root rm -f -- "$dest.c1m-new"',
    'if as_root test -e "$dest"; then',
    '  as_root rm -f -- "$dest"',
    '  echo "c1m-lab: removed $dest"',
    "  if command -v netplan >/dev/null 2>&1; then",
    "    if ! out=$(as_root timeout 120 netplan apply 2>&1); then",
    `      printf '%s\\n' "$out" >&2`,
    '      echo "c1m-lab: warning: netplan apply failed after removing the drop-in; deleting the addresses directly" >&2',
    "    fi",
    "  fi",
    "fi",
    'if ip link show dev "$iface" >/dev/null 2>&1; then',
    '  for a in "${addresses[@]}"; do',
    '    if has_addr "$a"; then as_root ip addr del "$a" dev "$iface"; echo "c1m-lab: deleted $a from $iface"; fi',
    "  done",
    "else",
    '  echo "c1m-lab: interface $iface is gone; no addresses to delete"',
    "fi",
  ]);
}

// ---------------------------------------------------------------------------------------------
// Sysctls

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

/**
 * Loads nf_conntrack (its keys must exist before they are recorded or set), records each key's
 * value once (a re-run keeps the first record; a key that does not exist fails here, before any
 * file is written), writes /etc/modules-load.d/c1m-lab.conf and /etc/sysctl.d/60-c1m-lab.conf,
 * applies that file with `sysctl -p` and checks every value took.
 */
export function installSysctlScript(opts: SysctlOptions): string {
  const where = "installSysctlScript";
  const root = checkRoot(opts.root, where);
  const stateDir = checkPath(opts.stateDir, "stateDir", where);
  const entries = normaliseSysctls(opts.sysctls, where);
  const raised = normaliseSysctls(opts.raise ?? {}, where).filter(([k]) => !(k in opts.sysctls));
  return script("install sysctls", [
    ...REMOTE,
    ...FAIL,
    `conf=${q(root + SYSCTL_CONF_PATH)}`,
    `mods=${q(root + MODULES_LOAD_PATH)}`,
    `state=${q(stateDir)}`,
    'before="$state/sysctl.before"',
    "norm() { tr -s '[:blank:]' ' ' | sed 's/^ //; s/ $//'; }",
    'as_root mkdir -p -- "$state" "$(dirname -- "$conf")" "$(dirname -- "$mods")"',
    'as_root chmod 0700 -- "$state"',
    "tmp=$(mktemp)",
    "trap 'rm -f -- \"$tmp\"' EXIT",
    // Load nf_conntrack first: its keys must exist before they are recorded or set.
    "if [ ! -e /proc/sys/net/netfilter/nf_conntrack_max ]; then",
    "  if command -v modprobe >/dev/null 2>&1 && as_root timeout 30 modprobe nf_conntrack 2>/dev/null; then",
    '    echo "c1m-lab: loaded nf_conntrack"',
    "  else",
    '    echo "c1m-lab: note: could not load nf_conntrack (built into the kernel, or in a container); continuing" >&2',
    "  fi",
    "fi",
    'if ! as_root test -f "$before"; then as_root touch -- "$before"; as_root chmod 0600 -- "$before"; fi',
    "record() {",
    `  if as_root awk -v k="$1" '$1 == k { f = 1 } END { exit !f }' "$before"; then return 0; fi`,
    "  local v",
    '  v=$(as_root sysctl -n "$1" 2>/dev/null) || fail "sysctl $1 does not exist here (kernel module missing, or not available in this namespace or container)"',
    '  v=$(printf "%s" "$v" | norm)',
    `  printf '%s = %s\\n' "$1" "$v" | as_root tee -a -- "$before" >/dev/null`,
    "}",
    ...[...entries, ...raised].map(([k]) => cmd("record", k)),
    // Nothing is written before every key has proved to exist.
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
    '  fail "sysctl -p $conf failed; the previous values are recorded in $before and the destroy step restores them"',
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
    ...REMOTE,
    ...FAIL,
    `conf=${q(root + SYSCTL_CONF_PATH)}`,
    `mods=${q(root + MODULES_LOAD_PATH)}`,
    `state=${q(stateDir)}`,
    'before="$state/sysctl.before"',
    'as_root rm -f -- "$conf" "$mods"',
    'if ! as_root test -f "$before"; then echo "c1m-lab: no recorded sysctls in $state; nothing to restore"; exit 0; fi',
    "failed=0",
    "while IFS= read -r line; do",
    "  case \"$line\" in ''|'#'*) continue ;; esac",
    "  key=${line%% = *}",
    "  val=${line#* = }",
    '  if ! as_root sysctl -n "$key" >/dev/null 2>&1; then echo "c1m-lab: note: $key no longer exists; nothing to restore" >&2; continue; fi',
    '  if ! as_root timeout 30 sysctl -q -w "$key=$val" >/dev/null; then echo "c1m-lab: could not restore $key to $val" >&2; failed=1; fi',
    'done < <(as_root cat -- "$before")',
    '[ "$failed" = 0 ] || fail "some sysctls were not restored; $before is kept: re-run to retry"',
    'as_root rm -f -- "$before"',
    'as_root rmdir -- "$state" 2>/dev/null || true',
    'echo "c1m-lab: sysctls restored"',
  ]);
}

// ---------------------------------------------------------------------------------------------
// The server's systemd unit

export interface ServerUnitOptions {
  /** Default c1m-lab-server (without .service). */
  unitName?: string;
  /** Default /opt/c1m-lab; its last component must contain "c1m" (the remove step deletes it). */
  workdir?: string;
  /** Default /usr/bin/node. */
  nodePath?: string;
  /** Node's own options, before the entry script. */
  nodeArgs: string[];
  /** Default <workdir>/dist/workload/server.js. */
  entry?: string;
  serverArgs: string[];
  limitNofile: number;
  /** fs.nr_open is raised to max(nrOpen, limitNofile) when limitNofile is above the current value. */
  nrOpen: number;
  /** Where /healthz answers (the server's --metrics-address / --metrics-port). */
  metricsPort: number;
  metricsHost?: string;
  /** Default 60 s. */
  healthTimeoutSeconds?: number;
  root?: string;
}

interface ResolvedUnit {
  unitName: string;
  workdir: string;
  nodePath: string;
  entry: string;
  nodeArgs: string[];
  serverArgs: string[];
  limitNofile: number;
  nrOpen: number;
  metricsPort: number;
  metricsHost: string;
  healthTimeoutSeconds: number;
  root: string;
}

function resolveUnit(opts: Partial<ServerUnitOptions>, where: string, full: boolean): ResolvedUnit {
  const unitName = opts.unitName ?? SERVER_UNIT_NAME;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,200}$/.test(unitName) || unitName.endsWith(".service")) {
    throw new ScriptInputError(
      `${where}: unitName ${JSON.stringify(unitName)} is not valid: use a unit name without .service, like c1m-lab-server`,
    );
  }
  const workdir = checkAbsolute(opts.workdir ?? SERVER_WORKDIR, "workdir", where);
  const parts = workdir.split("/").filter(Boolean);
  if (parts.length < 2 || !parts[parts.length - 1]!.includes("c1m")) {
    throw new ScriptInputError(
      `${where}: workdir ${JSON.stringify(workdir)} is not valid: the destroy step deletes it, so use a dedicated directory at least two levels deep whose name contains "c1m", like /opt/c1m-lab`,
    );
  }
  const nodePath = checkAbsolute(opts.nodePath ?? "/usr/bin/node", "nodePath", where);
  const entry = checkAbsolute(opts.entry ?? `${workdir}/dist/workload/server.js`, "entry", where);
  const args = (list: string[] | undefined, name: string) => {
    if (!full) return [];
    if (!Array.isArray(list)) throw new ScriptInputError(`${where}: ${name} must be a list of strings`);
    for (const [i, a] of list.entries()) {
      if (typeof a !== "string" || hasControlChar(a)) {
        throw new ScriptInputError(
          `${where}: ${name}[${i}] ${JSON.stringify(a)} is not valid: arguments may not contain control characters or newlines`,
        );
      }
    }
    return list;
  };
  return {
    unitName,
    workdir,
    nodePath,
    entry,
    nodeArgs: args(opts.nodeArgs, "nodeArgs"),
    serverArgs: args(opts.serverArgs, "serverArgs"),
    limitNofile: full ? checkInt(opts.limitNofile!, "limitNofile", where, 1024, 1_073_741_816) : 0,
    nrOpen: full ? checkInt(opts.nrOpen!, "nrOpen", where, 1024, 1_073_741_816) : 0,
    metricsPort: full ? checkInt(opts.metricsPort!, "metricsPort", where, 1, 65535) : 0,
    metricsHost: full ? checkHost(opts.metricsHost ?? "127.0.0.1", "metricsHost", where) : "",
    healthTimeoutSeconds: full ? checkInt(opts.healthTimeoutSeconds ?? 60, "healthTimeoutSeconds", where, 1, 3600) : 0,
    root: checkRoot(opts.root, where),
  };
}

/**
 * One ExecStart word, as systemd reads it: left bare when plain, else double-quoted with `\` and
 * `"` backslash-escaped; `%` (specifiers) and `$` (variables) are doubled either way.
 */
export function systemdQuote(arg: string): string {
  if (hasControlChar(arg)) throw new ScriptInputError(`systemdQuote: ${JSON.stringify(arg)} contains a control character`);
  if (/^[A-Za-z0-9_./:=,@+-]+$/.test(arg)) return arg;
  const escaped = arg
    .replace(/\\/g, "\\\\")
    .replace(/"/g, '\\"')
    .replace(/%/g, "%%")
    .replace(/\$/g, () => "$$");
  return `"${escaped}"`;
}

/** The text of /etc/systemd/system/<unitName>.service. */
export function renderServerUnit(opts: ServerUnitOptions): string {
  const u = resolveUnit(opts, "renderServerUnit", true);
  const exec = [u.nodePath, ...u.nodeArgs.map(systemdQuote), systemdQuote(u.entry), ...u.serverArgs.map(systemdQuote)].join(" ");
  return [
    "# Written by c1m-lab. Removed by pulumi destroy.",
    "[Unit]",
    "Description=c1m-lab connection server (holds idle TCP connections)",
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `WorkingDirectory=${u.workdir}`,
    `ExecStart=${exec}`,
    "Restart=on-failure",
    "RestartSec=2",
    `LimitNOFILE=${u.limitNofile}`,
    "TasksMax=infinity",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=30",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * Raises fs.nr_open when LimitNOFILE needs it, writes the unit (0644), reloads systemd, enables and
 * starts it (restarts it when the unit text changed), then waits until /healthz answers 200.
 */
export function installServerUnitScript(opts: ServerUnitOptions): string {
  const where = "installServerUnitScript";
  const u = resolveUnit(opts, where, true);
  const text = renderServerUnit(opts);
  const nrTarget = Math.max(u.nrOpen, u.limitNofile);
  return script("install server unit", [
    ...REMOTE,
    ...FAIL,
    `unit=${q(`${u.unitName}.service`)}`,
    `unitfile=${q(`${u.root}/etc/systemd/system/${u.unitName}.service`)}`,
    `workdir=${q(u.workdir)}`,
    `entry=${q(u.entry)}`,
    `host=${q(u.metricsHost)}`,
    `port=${q(u.metricsPort)}`,
    'command -v systemctl >/dev/null 2>&1 || fail "systemctl was not found: the server unit needs a systemd host"',
    'as_root test -f "$entry" || fail "$entry is missing: upload the workload to $workdir first"',
    "cur=$(cat /proc/sys/fs/nr_open)",
    `if [ ${q(u.limitNofile)} -gt "$cur" ]; then`,
    `  as_root timeout 30 sysctl -q -w fs.nr_open=${q(nrTarget)} >/dev/null`,
    `  echo "c1m-lab: raised fs.nr_open from $cur to ${nrTarget} for LimitNOFILE=${u.limitNofile}"`,
    "fi",
    'as_root mkdir -p -- "$workdir" "$(dirname -- "$unitfile")"',
    "tmp=$(mktemp)",
    "trap 'rm -f -- \"$tmp\"' EXIT",
    writeText(text, '"$tmp"'),
    "changed=1",
    'if as_root test -f "$unitfile" && as_root cmp -s -- "$tmp" "$unitfile"; then changed=0; fi',
    'if [ "$changed" = 1 ]; then as_root install -o root -g root -m 0644 -- "$tmp" "$unitfile"; fi',
    "as_root timeout 60 systemctl daemon-reload",
    'if [ "$changed" = 1 ]; then',
    '  as_root timeout 90 systemctl enable "$unit" >/dev/null',
    '  as_root timeout 90 systemctl restart "$unit"',
    "else",
    '  as_root timeout 90 systemctl enable --now "$unit" >/dev/null',
    "fi",
    // bash's /dev/tcp: no curl or a recent node needed on the VM.
    "healthz() {",
    '  timeout 3 bash -c \'exec 3<>"/dev/tcp/$1/$2" || exit 1',
    '    printf "GET /healthz HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n" "$1" >&3',
    "    IFS= read -r line <&3 || exit 1",
    '    case "$line" in "HTTP/1."[01]" 200"*) exit 0 ;; esac; exit 1\' _ "$host" "$port" 2>/dev/null',
    "}",
    `deadline=$((SECONDS + ${u.healthTimeoutSeconds}))`,
    "until healthz; do",
    '  if [ "$SECONDS" -ge "$deadline" ]; then',
    '    as_root timeout 10 systemctl status "$unit" --no-pager -l >&2 || true',
    '    as_root timeout 10 journalctl -u "$unit" -n 40 --no-pager >&2 || true',
    `    fail "$unit did not answer http://$host:$port/healthz within ${u.healthTimeoutSeconds}s"`,
    "  fi",
    "  sleep 1",
    "done",
    'echo "c1m-lab: $unit is up (http://$host:$port/healthz answers)"',
  ]);
}

/** Stops and disables the unit, deletes it and the workdir; idempotent. */
export function removeServerUnitScript(opts: { unitName?: string; workdir?: string; root?: string } = {}): string {
  const u = resolveUnit(opts, "removeServerUnitScript", false);
  return script("remove server unit", [
    ...REMOTE,
    `unit=${q(`${u.unitName}.service`)}`,
    `unitfile=${q(`${u.root}/etc/systemd/system/${u.unitName}.service`)}`,
    `workdir=${q(u.workdir)}`,
    "if command -v systemctl >/dev/null 2>&1; then",
    '  if as_root test -f "$unitfile"; then as_root timeout 90 systemctl disable --now "$unit" >/dev/null 2>&1 || true; fi',
    '  as_root timeout 90 systemctl stop "$unit" >/dev/null 2>&1 || true',
    "fi",
    'as_root rm -f -- "$unitfile"',
    "if command -v systemctl >/dev/null 2>&1; then",
    "  as_root timeout 60 systemctl daemon-reload >/dev/null 2>&1 || true",
    '  as_root timeout 30 systemctl reset-failed "$unit" >/dev/null 2>&1 || true',
    "fi",
    'as_root rm -rf -- "$workdir"',
    'echo "c1m-lab: $unit and $workdir removed"',
  ]);
}

// ---------------------------------------------------------------------------------------------
// Local helpers (run on the machine running pulumi)

export interface WaitForSshOptions {
  host: string;
  port: number;
  user: string;
  timeoutSeconds: number;
  /** Path of the private key file. */
  keyPath?: string;
  /** Name of an environment variable holding the private key text (written to a 0600 temp file, never printed). */
  keyEnv?: string;
  /** Expected host key ("ssh-ed25519 AAAA..."); unset = accept whatever the host presents. */
  hostKey?: string;
}

/** Polls `ssh ... true` until the host accepts the key, or fails after timeoutSeconds with ssh's last error. */
export function waitForSshScript(opts: WaitForSshOptions): string {
  const where = "waitForSshScript";
  const host = checkHost(opts.host, "host", where);
  const port = checkInt(opts.port, "port", where, 1, 65535);
  const user = checkUser(opts.user, where);
  const timeout = checkInt(opts.timeoutSeconds, "timeoutSeconds", where, 1, 86_400);
  if (opts.keyPath !== undefined) checkPath(opts.keyPath, "keyPath", where);
  if (opts.keyEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(opts.keyEnv)) {
    throw new ScriptInputError(
      `${where}: keyEnv ${JSON.stringify(opts.keyEnv)} is not valid: use an environment variable name like C1M_SSH_KEY`,
    );
  }
  if (opts.hostKey !== undefined && !/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+$/.test(opts.hostKey)) {
    throw new ScriptInputError(
      `${where}: hostKey ${JSON.stringify(opts.hostKey)} is not valid: use a host key like 'ssh-ed25519 AAAA...'`,
    );
  }
  const body = [
    ...FAIL,
    `host=${q(host)}`,
    `port=${q(port)}`,
    `user=${q(user)}`,
    "tmpd=$(mktemp -d)",
    "trap 'rm -rf -- \"$tmpd\"' EXIT",
    'opts=(-o BatchMode=yes -o ConnectTimeout=5 -o ServerAliveInterval=5 -o ServerAliveCountMax=1 -o LogLevel=ERROR -p "$port")',
  ];
  if (opts.keyPath !== undefined) {
    body.push(
      `keyfile=${q(opts.keyPath)}`,
      '[ -r "$keyfile" ] || fail "the ssh key file $keyfile is not readable"',
      'opts+=(-i "$keyfile" -o IdentitiesOnly=yes)',
    );
  }
  if (opts.keyEnv !== undefined) {
    body.push(
      `keyenv=${q(opts.keyEnv)}`,
      '[ -n "${!keyenv:-}" ] || fail "environment variable $keyenv (the ssh private key) is empty or unset"',
      `(umask 077; printf '%s\\n' "\${!keyenv}" > "$tmpd/key")`,
      'opts+=(-i "$tmpd/key" -o IdentitiesOnly=yes)',
    );
  }
  if (opts.hostKey !== undefined) {
    body.push(
      `hostkey=${q(opts.hostKey)}`,
      `if [ "$port" = 22 ]; then printf '%s %s\\n' "$host" "$hostkey"; else printf '[%s]:%s %s\\n' "$host" "$port" "$hostkey"; fi > "$tmpd/known_hosts"`,
      'opts+=(-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$tmpd/known_hosts")',
    );
  } else {
    body.push("opts+=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null)");
  }
  body.push(
    `deadline=$((SECONDS + ${timeout}))`,
    "attempt=0",
    "while :; do",
    "  attempt=$((attempt + 1))",
    '  left=$((deadline - SECONDS)); [ "$left" -lt 5 ] && left=5; [ "$left" -gt 20 ] && left=20',
    '  if err=$(timeout "$left" ssh "${opts[@]}" -- "$user@$host" true 2>&1 </dev/null); then',
    '    echo "c1m-lab: ssh $user@$host:$port is up (attempt $attempt, ${SECONDS}s)"',
    "    exit 0",
    "  fi",
    '  if [ "$SECONDS" -ge "$deadline" ]; then',
    `    fail "ssh $user@$host:$port did not let us in within ${timeout}s ($attempt attempts); last error: $(printf '%s' "$err" | tr -d '\\r' | tail -n 3 | tr '\\n' ' ')"`,
    "  fi",
    "  sleep 2",
    "done",
  );
  return script("wait for ssh", body);
}

const MULTIPASS_JSON = (expr: string) =>
  `node -e 'let s="";process.stdin.on("data",(d)=>{s+=d}).on("end",()=>{let v="";try{const i=JSON.parse(s).info[process.argv[1]];v=${expr}}catch{}process.stdout.write(v==null?"":String(v))})' "$name"`;

function checkInstance(instance: string, where: string): string {
  if (typeof instance !== "string" || !/^[a-z][a-z0-9-]{0,62}$/.test(instance)) {
    throw new ScriptInputError(
      `${where}: instance ${JSON.stringify(instance)} is not valid: use a multipass instance name (a-z, 0-9, -), like c1m-server`,
    );
  }
  return instance;
}

export interface MultipassLaunchOptions {
  instance: string;
  release: string;
  cpus: number;
  memory: string;
  disk: string;
  /** The file renderCloudInit's text was written to. */
  cloudInitPath: string;
  /** Bound for launch and for cloud-init to finish; default 900 s. */
  timeoutSeconds?: number;
}

/** Launches the VM, or adopts (and starts) an existing instance of the same name; waits for cloud-init. */
export function multipassLaunchScript(opts: MultipassLaunchOptions): string {
  const where = "multipassLaunchScript";
  const instance = checkInstance(opts.instance, where);
  if (typeof opts.release !== "string" || !/^[a-z0-9.:-]{1,32}$/.test(opts.release)) {
    throw new ScriptInputError(
      `${where}: release ${JSON.stringify(opts.release)} is not valid: use an Ubuntu release like 24.04`,
    );
  }
  const cpus = checkInt(opts.cpus, "cpus", where, 1, 256);
  for (const key of ["memory", "disk"] as const) {
    if (typeof opts[key] !== "string" || !/^\d+[KMG]$/.test(opts[key])) {
      throw new ScriptInputError(`${where}: ${key} ${JSON.stringify(opts[key])} is not valid: use a size like 4G`);
    }
  }
  const cloudInit = checkPath(opts.cloudInitPath, "cloudInitPath", where);
  const timeout = checkInt(opts.timeoutSeconds ?? 900, "timeoutSeconds", where, 30, 86_400);
  return script("multipass launch", [
    ...FAIL,
    `name=${q(instance)}`,
    `cloudinit=${q(cloudInit)}`,
    'command -v multipass >/dev/null 2>&1 || fail "multipass is not installed (https://multipass.run): the multipass provider needs it"',
    'if timeout 60 multipass info "$name" >/dev/null 2>&1; then',
    `  state=$(timeout 60 multipass info "$name" --format json 2>/dev/null | ${MULTIPASS_JSON("i.state")}) || state=`,
    '  echo "c1m-lab: adopting the existing multipass instance $name (state ${state:-unknown}); its release, cpus, memory and disk are left as they are"',
    '  case "$state" in',
    "    Running) ;;",
    '    Deleted) timeout 120 multipass recover "$name"; timeout 600 multipass start "$name" ;;',
    '    *) timeout 600 multipass start "$name" ;;',
    "  esac",
    "else",
    '  [ -f "$cloudinit" ] || fail "the cloud-init file $cloudinit is missing"',
    // Through stdin: the multipass snap cannot read files outside the user's home.
    `  timeout ${timeout + 60} ${cmd("multipass", "launch", opts.release, "--name", instance, "--cpus", cpus, "--memory", opts.memory, "--disk", opts.disk)} --cloud-init - --timeout ${timeout} < "$cloudinit"`,
    // The delete step reads this line (PULUMI_COMMAND_STDOUT): only an instance we launched is deleted.
    '  echo "c1m-lab: launched multipass instance $name"',
    "fi",
    "rc=0",
    `timeout ${timeout} multipass exec "$name" -- cloud-init status --wait >/dev/null 2>&1 || rc=$?`,
    // 2 = finished with recoverable errors (cloud-init ≥ 23.4): the VM is usable.
    'case "$rc" in 0|2) ;; *) fail "cloud-init in $name did not finish cleanly (exit $rc): see multipass exec $name -- cloud-init status --long" ;; esac',
    'echo "c1m-lab: multipass instance $name is ready"',
  ]);
}

/** Prints the instance's first IPv4 address (waits up to timeoutSeconds for one to appear). */
export function multipassAddressScript(instance: string, opts: { timeoutSeconds?: number } = {}): string {
  const where = "multipassAddressScript";
  const name = checkInstance(instance, where);
  const timeout = checkInt(opts.timeoutSeconds ?? 120, "timeoutSeconds", where, 1, 3600);
  return script("multipass address", [
    ...FAIL,
    `name=${q(name)}`,
    `deadline=$((SECONDS + ${timeout}))`,
    "while :; do",
    `  ip=$(timeout 60 multipass info "$name" --format json 2>/dev/null | ${MULTIPASS_JSON("(i.ipv4||[])[0]")}) || ip=`,
    '  if [ -n "$ip" ]; then printf \'%s\\n\' "$ip"; exit 0; fi',
    `  [ "$SECONDS" -lt "$deadline" ] || fail "multipass instance $name has no IPv4 address after ${timeout}s (is it running? multipass info $name)"`,
    "  sleep 2",
    "done",
  ]);
}

/** `multipass delete --purge`, idempotent. */
export function multipassDeleteScript(instance: string): string {
  const name = checkInstance(instance, "multipassDeleteScript");
  return script("multipass delete", [
    `name=${q(name)}`,
    'if ! command -v multipass >/dev/null 2>&1; then echo "c1m-lab: multipass is not installed; nothing to delete"; exit 0; fi',
    // An instance the lab adopted (it existed before) is the user's: left in place.
    'case "${PULUMI_COMMAND_STDOUT:-}" in',
    '  *"c1m-lab: launched multipass instance $name"*) ;;',
    '  *) echo "c1m-lab: multipass instance $name was adopted, not launched by the lab: left in place"; exit 0 ;;',
    "esac",
    'if timeout 60 multipass info "$name" >/dev/null 2>&1; then',
    '  timeout 300 multipass delete --purge "$name"',
    '  echo "c1m-lab: deleted multipass instance $name"',
    "else",
    '  echo "c1m-lab: multipass instance $name does not exist; nothing to delete"',
    "fi",
  ]);
}

export const SSH_PUBLIC_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;

/** The cloud-init user-data for the multipass VM: the key for the user, nodejs installed. */
export function renderCloudInit(opts: { sshPublicKey: string; user: string; packages?: string[] }): string {
  const where = "renderCloudInit";
  const key = typeof opts.sshPublicKey === "string" ? opts.sshPublicKey.trim() : "";
  if (!SSH_PUBLIC_KEY.test(key)) {
    throw new ScriptInputError(
      `${where}: sshPublicKey is not valid: use one public key line like 'ssh-ed25519 AAAA... comment' (the .pub file)`,
    );
  }
  const user = checkUser(opts.user, where);
  const packages = opts.packages ?? ["nodejs"];
  for (const [i, p] of packages.entries()) {
    if (!/^[a-z0-9][a-z0-9+.-]*$/.test(p))
      throw new ScriptInputError(`${where}: packages[${i}] ${JSON.stringify(p)} is not a Debian package name`);
  }
  const users: unknown[] = ["default"];
  if (user !== "ubuntu") {
    users.push({ name: user, groups: ["sudo"], sudo: "ALL=(ALL) NOPASSWD:ALL", shell: "/bin/bash", ssh_authorized_keys: [key] });
  }
  const doc = new Document({ users, ssh_authorized_keys: [key], package_update: true, packages });
  return `#cloud-config\n${doc.toString()}`;
}
