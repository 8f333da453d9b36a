// Netplan on a server VM: probe the host's netplan files, install and remove the lab's drop-in
// with the secondary addresses. Pure: each function returns a bash script. `root` (default "")
// prefixes /etc/netplan and /run so the integration tests need not write the real ones.
import { DROP_IN_PATH, isMacAddress } from "../../../../netplan/render.js";
import { FAIL, ScriptInputError, q, script } from "../../../shell.js";
import { REMOTE, checkAddresses, checkIface, checkInt, checkPath, checkRoot } from "./checks.js";

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

/**
 * Writes the rendered drop-in, given on stdin, to the staging path (the ssh user's, mode 0600).
 * A Command with stdin rather than CopyToRemote: the text depends on the probe, unknown at
 * preview, and CopyToRemote refuses an unknown source there (preview of every new VM stack failed).
 */
export function stageDropInScript(stagedPath: string): string {
  const staged = checkPath(stagedPath, "stagedPath", "stageDropInScript");
  return script("stage netplan drop-in", [`mkdir -p -- "$(dirname -- ${q(staged)})"`, "umask 077", `cat > ${q(staged)}`]);
}

export interface InstallNetplanOptions {
  /** Where the staging step put the rendered drop-in (owned by the ssh user). */
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
