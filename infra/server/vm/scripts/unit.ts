// The connection server's systemd unit on a VM: rendered with the plan's LimitNOFILE, run as an
// unprivileged dynamic user in a read-only, hardened sandbox, installed, started and
// health-checked; removed with its working directory on destroy. Pure.
import { FAIL, ScriptInputError, q, script, writeText } from "../../../shell.js";
import { REMOTE, checkAbsolute, checkHost, checkInt, checkRoot, hasControlChar } from "./checks.js";
import { installedServerPath } from "./workload.js";
export const SERVER_UNIT_NAME = "c1m-lab-server";
export const SERVER_WORKDIR = "/opt/c1m-lab";

export interface ServerUnitOptions {
  /** Default c1m-lab-server (without .service). */
  unitName?: string;
  /** Default /opt/c1m-lab; its last component must contain "c1m" (the remove step deletes it). */
  workdir?: string;
  /** Default /usr/bin/node. */
  nodePath?: string;
  /** Node's own options, before the entry script. */
  nodeArgs: string[];
  /** Default <workdir>/c1m-server.mjs (where installWorkloadScript puts the bundle). */
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
  const entry = checkAbsolute(opts.entry ?? installedServerPath(workdir), "entry", where);
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
    // An unprivileged user made for the service (ports 9000 and the metrics port need no
    // privilege; LimitNOFILE is set by systemd before it drops root). The server writes no file:
    // logs go to the journal, so no StateDirectory/RuntimeDirectory.
    "DynamicUser=yes",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "ProtectKernelTunables=yes",
    "ProtectControlGroups=yes",
    "RestrictSUIDSGID=yes",
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
