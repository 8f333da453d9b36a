// The VM script builders run for real: sshd inside a network namespace this test creates stands
// for the VM; scripts go over `ssh ... 'bash -s'` exactly as remote.Command sends them. File
// paths under /etc are pointed at a temp `root`; net.* sysctls are per namespace, so they change
// only inside ours. Hosts without systemd-networkd / systemd get small test doubles for
// `netplan apply` and `systemctl` (described where they are written). Local scripts (waitForSsh,
// multipass) run on this machine; multipass is a recording double.
// Traffic: only to addresses inside the namespace. Everything is removed in after().
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { need } from "../support/sh.js";
import { sshdArgs } from "../support/sshd.js";
import { findNetplanId, renderNetplanDropIn } from "../../netplan/render.js";
import {
  installNetplanDropInScript,
  netplanIdProbeScript,
  parseNetplanProbe,
  removeNetplanDropInScript,
} from "../../infra/server/vm/scripts/netplan.js";
import {
  installServerUnitScript,
  removeServerUnitScript,
  renderServerUnit,
  type ServerUnitOptions,
} from "../../infra/server/vm/scripts/unit.js";
import { installSysctlScript, renderSysctlConf, restoreSysctlScript } from "../../infra/server/vm/scripts/sysctl.js";
import { multipassAddressScript, multipassDeleteScript, multipassLaunchScript } from "../../infra/server/vm/multipass/scripts.js";
import { waitForSshScript } from "../../infra/server/vm/scripts/ssh.js";

const pid = process.pid;
const NS = `c1mt-ssh-${pid}`;
const HOST_IF = `c1mh${pid % 100000}`;
const NS_IF = `c1ms${pid % 100000}`;
const PORT = 2222;

function sh(
  file: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {},
): SpawnSyncReturns<string> {
  return spawnSync(file, args, {
    encoding: "utf8",
    timeout: opts.timeout ?? 30_000,
    input: opts.input,
    env: opts.env ?? process.env,
  });
}
function must(file: string, args: string[]): string {
  const r = sh(file, args);
  assert.equal(r.status, 0, `${file} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** What this suite needs, or undefined: a missing tool fails it with what to install. */
const missing =
  process.getuid?.() !== 0
    ? "root (network namespaces, sshd): run the tests as root"
    : !existsSync("/usr/sbin/sshd") || sh("ssh", ["-V"]).status !== 0
      ? "openssh-server and openssh-client: apt-get install -y openssh-server openssh-client"
      : sh("netplan", ["--help"]).status !== 0
        ? "netplan.io: apt-get install -y netplan.io"
        : undefined;

let tmp = "";
let subnet = 0;
let nsIp = "";
let key = "";

/** Runs a script on the "VM" as remote.Command would: ssh root@IP 'bash -s' < script. */
function remote(text: string, prelude: string[] = []): SpawnSyncReturns<string> {
  return sh(
    "ssh",
    [
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
      "-o",
      "ConnectTimeout=5",
      "-i",
      key,
      "-p",
      String(PORT),
      `root@${nsIp}`,
      "bash -s",
    ],
    { input: [...prelude, text].join("\n"), timeout: 60_000 },
  );
}
function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (status ${r.status}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}
const inNs = (...args: string[]) => must("ip", ["netns", "exec", NS, ...args]);
const nsAddrs = () => [...inNs("ip", "-o", "-4", "addr", "show", "dev", NS_IF).matchAll(/ inet (\S+) /g)].map((m) => m[1]);
const mode = (path: string) => statSync(path).mode & 0o777;

/** TCP connect from the host into the namespace: "refused" proves the address answers there. */
function probe(ip: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port, timeout: 3000 });
    s.on("connect", () => (s.destroy(), resolve("open")));
    s.on("timeout", () => (s.destroy(), resolve("timeout")));
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
  });
}

describe("VM scripts over ssh into a namespace", () => {
  before(async () => {
    need(missing === undefined, missing ?? "");
    tmp = mkdtempSync("/tmp/c1mt-ssh-");
    const used = must("ip", ["-o", "-4", "addr"]);
    subnet = 20 + (pid % 200);
    while (used.includes(`10.203.${subnet}.`)) subnet = subnet >= 250 ? 20 : subnet + 1;
    nsIp = `10.203.${subnet}.2`;
    must("ip", ["netns", "add", NS]);
    must("ip", ["link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF, "netns", NS]);
    must("ip", ["addr", "add", `10.203.${subnet}.1/24`, "dev", HOST_IF]);
    must("ip", ["link", "set", HOST_IF, "up"]);
    inNs("ip", "addr", "add", `${nsIp}/24`, "dev", NS_IF);
    inNs("ip", "link", "set", NS_IF, "up");
    inNs("ip", "link", "set", "lo", "up");
    key = `${tmp}/id_ed25519`;
    must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "c1mt", "-f", key]);
    must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "c1mt-host", "-f", `${tmp}/host_key`]);
    writeFileSync(`${tmp}/authorized_keys`, readFileSync(`${key}.pub`));
    mkdirSync("/run/sshd", { recursive: true });
    must("ip", [
      "netns",
      "exec",
      NS,
      "/usr/sbin/sshd",
      ...sshdArgs({
        hostKey: `${tmp}/host_key`,
        authorizedKeys: `${tmp}/authorized_keys`,
        listen: nsIp,
        port: PORT,
        pidFile: `${tmp}/sshd.pid`,
        extra: ["-o", "MaxStartups=100"],
      }),
    ]);
    for (let i = 0; i < 50 && (await probe(nsIp, PORT)) !== "open"; i++) await new Promise((r) => setTimeout(r, 100));
  });

  after(() => {
    // Every process in the namespace is ours (sshd, its sessions, servers the scripts started).
    const pids = sh("ip", ["netns", "pids", NS]).stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const p of pids) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    sh("ip", ["netns", "del", NS]);
    sh("ip", ["link", "del", HOST_IF]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test("waitForSshScript: reaches the host with a key file, with the key in an env var (never printed), and honours the host key", () => {
    const hostKey = readFileSync(`${tmp}/host_key.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    const byPath = sh("bash", ["-s"], {
      input: waitForSshScript({ host: nsIp, port: PORT, user: "root", timeoutSeconds: 20, keyPath: key }),
    });
    assert.match(ok(byPath, "waitForSsh (keyPath)"), /ssh root@10\.203\.\d+\.2:2222 is up \(attempt 1/);

    const keyText = readFileSync(key, "utf8");
    const env = { ...process.env, C1MT_SSH_KEY: keyText };
    const byEnv = sh("bash", ["-s"], {
      input: waitForSshScript({ host: nsIp, port: PORT, user: "root", timeoutSeconds: 20, keyEnv: "C1MT_SSH_KEY", hostKey }),
      env,
    });
    ok(byEnv, "waitForSsh (keyEnv + hostKey)");
    const body = keyText.split("\n").filter((l) => l && !l.startsWith("-----"));
    for (const line of body) assert.ok(!byEnv.stdout.includes(line) && !byEnv.stderr.includes(line), "key text printed");

    const wrong = readFileSync(`${key}.pub`, "utf8").split(" ").slice(0, 2).join(" "); // a valid key, not the host's
    const started = Date.now();
    const bad = sh("bash", ["-s"], {
      input: waitForSshScript({ host: nsIp, port: PORT, user: "root", timeoutSeconds: 60, keyPath: key, hostKey: wrong }),
    });
    assert.notEqual(bad.status, 0);
    assert.match(
      bad.stderr,
      /c1m-lab: ssh root@10\.203\.\d+\.2:2222 does not present the pinned host key ssh-ed25519 \S+: refused, not retried \(another machine at that address, or the host's key changed\); ssh said: .*Host key verification failed/,
    );
    assert.ok(Date.now() - started < 15_000, "refused at once, not retried until the 60 s timeout");

    const unset = sh("bash", ["-s"], {
      input: waitForSshScript({ host: nsIp, port: PORT, user: "root", timeoutSeconds: 2, keyEnv: "C1MT_UNSET_KEY" }),
    });
    assert.match(unset.stderr, /environment variable C1MT_UNSET_KEY \(the ssh private key\) is empty or unset/);
  });

  test("sysctls: namespaced values set, recorded once, restored exactly; files and modes; hostile stateDir; unknown key fails before writing", () => {
    const root = `${tmp}/sysroot`;
    const stateDir = `${tmp}/state dir '; touch ${tmp}/PWNED; '$(touch ${tmp}/PWNED2)`;
    const keys = ["net.core.somaxconn", "net.ipv4.ip_local_port_range"];
    const read = (k: string) => inNs("sysctl", "-n", k).trim();
    const hostBefore = keys.map((k) => must("sysctl", ["-n", k]).trim());
    const nsBefore = keys.map(read);
    const sysctls = { "net.core.somaxconn": Number(nsBefore[0]) + 1234, "net.ipv4.ip_local_port_range": "20000 40000" };

    for (let i = 0; i < 2; i++) ok(remote(installSysctlScript({ sysctls, stateDir, root })), `installSysctl #${i + 1}`);
    assert.equal(read("net.core.somaxconn"), String(Number(nsBefore[0]) + 1234));
    assert.equal(read("net.ipv4.ip_local_port_range").replace(/\s+/g, " "), "20000 40000");
    assert.deepEqual(
      keys.map((k) => must("sysctl", ["-n", k]).trim()),
      hostBefore,
      "the host's own values are untouched",
    );
    const conf = `${root}/etc/sysctl.d/60-c1m-lab.conf`;
    assert.equal(readFileSync(conf, "utf8"), renderSysctlConf(sysctls));
    assert.equal(mode(conf), 0o644);
    assert.equal(
      readFileSync(`${root}/etc/modules-load.d/c1m-lab.conf`, "utf8")
        .split("\n")
        .filter((l) => l && !l.startsWith("#"))
        .join(),
      "nf_conntrack",
    );
    // The record holds the values from before the first run, not the lab's (the second run kept it).
    const recorded = readFileSync(`${stateDir}/sysctl.before`, "utf8");
    assert.equal(recorded, keys.map((k, i) => `${k} = ${nsBefore[i]!.replace(/\s+/g, " ")}\n`).join(""));
    assert.equal(mode(`${stateDir}/sysctl.before`), 0o600);
    assert.equal(existsSync(`${tmp}/PWNED`) || existsSync(`${tmp}/PWNED2`), false, "stateDir was not executed");

    ok(remote(restoreSysctlScript({ stateDir, root })), "restoreSysctl");
    assert.deepEqual(keys.map(read), nsBefore, "restored exactly");
    assert.equal(
      existsSync(conf) || existsSync(`${root}/etc/modules-load.d/c1m-lab.conf`) || existsSync(stateDir),
      false,
      "nothing left",
    );
    assert.match(ok(remote(restoreSysctlScript({ stateDir, root })), "restoreSysctl again"), /nothing to restore/);

    const bad = remote(
      installSysctlScript({ sysctls: { "net.core.somaxconn": 5000, "net.core.c1mt_no_such_key": 1 }, stateDir, root }),
    );
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /sysctl net\.core\.c1mt_no_such_key does not exist here/);
    assert.equal(existsSync(conf) || existsSync(`${root}/etc/modules-load.d/c1m-lab.conf`), false, "no file written");
    assert.deepEqual(keys.map(read), nsBefore, "nothing applied");
    ok(remote(restoreSysctlScript({ stateDir, root })), "restore after the failed run");
    assert.equal(existsSync(stateDir), false);
  });

  test("a sysctl create that fails after it applied values (the kernel refuses one): puts back what it changed, removes its files and record, says so", () => {
    const root = `${tmp}/undo-root`;
    const stateDir = `${tmp}/undo-state`;
    const read = (k: string) => inNs("sysctl", "-n", k).trim().replace(/\s+/g, " ");
    const keys = ["net.core.somaxconn", "net.ipv4.tcp_keepalive_time", "net.ipv4.ip_local_port_range"];
    const before = keys.map(read);
    const somaxconn = Number(before[0]) + 1234;
    const keepalive = Number(before[1]) + 111;
    // A low end above the high end: the kernel refuses it (EINVAL), after the lines before it took.
    const sysctls = { "net.core.somaxconn": somaxconn, "net.ipv4.ip_local_port_range": "40000 30000" };
    const raise = { "net.ipv4.tcp_keepalive_time": keepalive };
    const r = remote(installSysctlScript({ sysctls, raise, stateDir, root }));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /c1m-lab: sysctl -p .*60-c1m-lab\.conf failed/);
    assert.match(
      r.stderr,
      /c1m-lab: install sysctls failed: put back the values recorded before it and removed .*\/etc\/sysctl\.d\/60-c1m-lab\.conf/,
    );
    assert.deepEqual(keys.map(read), before, "every value as it was");
    assert.equal(existsSync(`${root}/etc/sysctl.d/60-c1m-lab.conf`), false, "no conf file left");
    assert.equal(existsSync(`${root}/etc/modules-load.d/c1m-lab.conf`), false, "no modules-load file left");
    assert.equal(existsSync(stateDir), false, "no record left");

    // Without the undo they would stay (sysctl -p sets every line it can): without the refused key they do take.
    ok(remote(installSysctlScript({ sysctls: { "net.core.somaxconn": somaxconn }, raise, stateDir, root })), "install");
    assert.deepEqual([read("net.core.somaxconn"), read("net.ipv4.tcp_keepalive_time")], [String(somaxconn), String(keepalive)]);
    ok(remote(restoreSysctlScript({ stateDir, root })), "restore");
    assert.deepEqual(keys.map(read), before);

    // One that fails before writing anything removes the record it started (nothing else changed).
    const early = remote(installSysctlScript({ sysctls: { "net.core.c1mt_no_such_key": 1 }, stateDir, root }));
    assert.match(early.stderr, /sysctl net\.core\.c1mt_no_such_key does not exist here/);
    assert.doesNotMatch(early.stderr, /put back/);
    assert.equal(existsSync(stateDir), false, "no record left");
  });

  test("raise-only limits: a host value above the plan's stays, one below is raised; both restored", () => {
    const root = `${tmp}/raise-root`;
    const stateDir = `${tmp}/raise-state`;
    const read = (k: string) => Number(inNs("sysctl", "-n", k).trim());
    const [backlog, keepalive] = [read("net.ipv4.tcp_max_syn_backlog"), read("net.ipv4.tcp_keepalive_time")];
    const raise = { "net.ipv4.tcp_max_syn_backlog": backlog - 1, "net.ipv4.tcp_keepalive_time": keepalive + 111 };
    for (let i = 0; i < 2; i++) ok(remote(installSysctlScript({ sysctls: {}, raise, stateDir, root })), `raise #${i + 1}`);
    assert.equal(read("net.ipv4.tcp_max_syn_backlog"), backlog, "never lowered");
    assert.equal(read("net.ipv4.tcp_keepalive_time"), keepalive + 111, "raised");
    assert.match(
      readFileSync(`${root}/etc/sysctl.d/60-c1m-lab.conf`, "utf8"),
      new RegExp(`net.ipv4.tcp_max_syn_backlog = ${backlog}\n`),
    );
    ok(remote(restoreSysctlScript({ stateDir, root })), "restore");
    assert.deepEqual([read("net.ipv4.tcp_max_syn_backlog"), read("net.ipv4.tcp_keepalive_time")], [backlog, keepalive]);
  });

  test("netplan: probe → findNetplanId → drop-in validated, installed 0600, applied, addresses answer; idempotent; bad drop-in and failed apply change nothing; remove leaves the host's file", async () => {
    // Test double for `netplan apply` (no systemd-networkd here): everything else goes to the real
    // netplan. `apply` runs the real `netplan generate` on the root and, like networkd, adds the
    // Address= lines of the FIRST .network file matching the interface. Like a networkd restart it
    // never removes addresses, so the scripts' own `ip addr del` is what the test sees remove them.
    const root = `${tmp}/nproot`;
    const bin = `${tmp}/netplan-bin`;
    const log = `${tmp}/netplan.log`;
    mkdirSync(`${root}/etc/netplan`, { recursive: true });
    mkdirSync(bin);
    writeFileSync(
      `${bin}/netplan`,
      [
        "#!/bin/bash",
        'printf \'%s\\n\' "$*" >> "$C1MT_NETPLAN_LOG"',
        `[ "$1" = apply ] || exec ${must("bash", ["-c", "command -v netplan"]).trim()} "$@"`,
        '[ -z "${C1MT_APPLY_FAIL:-}" ] || { echo "netplan apply: simulated failure" >&2; exit 1; }',
        "gen=$(mktemp -d); trap 'rm -rf \"$gen\"' EXIT",
        'for d in lib etc run; do mkdir -p "$gen/$d/netplan"; cp "$C1MT_ROOT/$d/netplan/"*.yaml "$gen/$d/netplan/" 2>/dev/null || true; done',
        'netplan generate --root-dir "$gen" || exit 1',
        'for f in $(ls "$gen"/run/systemd/network/*.network 2>/dev/null | sort); do',
        '  grep -qx "Name=$C1MT_IFACE" "$f" || continue',
        '  for a in $(sed -n "s/^Address=//p" "$f"); do ip addr replace "$a" dev "$C1MT_IFACE"; done',
        "  break",
        "done",
      ].join("\n"),
    );
    chmodSync(`${bin}/netplan`, 0o755);
    const prelude = (extra: string[] = []) => [
      `export PATH=${bin}:$PATH C1MT_NETPLAN_LOG=${log} C1MT_ROOT=${root} C1MT_IFACE=${NS_IF}`,
      ...extra,
    ];
    const logLines = () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []);
    const mac = inNs("cat", `/sys/class/net/${NS_IF}/address`).trim();
    const hostFile = `${root}/etc/netplan/50-cloud-init.yaml`;
    const hostText = `network:\n    ethernets:\n        ${NS_IF}:\n            match:\n                macaddress: ${mac}\n            set-name: ${NS_IF}\n            addresses: [${nsIp}/24]\n    version: 2\n`;
    writeFileSync(hostFile, hostText, { mode: 0o600 });

    // Probe the "VM" and find the ID the way the program does.
    const found = parseNetplanProbe(ok(remote(netplanIdProbeScript({ root })), "probe"));
    assert.deepEqual(found.files, [{ path: "/etc/netplan/50-cloud-init.yaml", text: hostText }]);
    assert.deepEqual(
      found.links.find((l) => l.name === NS_IF),
      { name: NS_IF, mac },
    );
    const id = findNetplanId(found.files, NS_IF, { links: found.links });
    assert.equal(id, NS_IF);

    const a = (n: number) => `10.203.${subnet}.${n}/24`;
    const staged = `${tmp}/up load's/60-c1m-lab.yaml`;
    mkdirSync(`${tmp}/up load's`);
    const stage = (text: string) => writeFileSync(staged, text);
    const dest = `${root}/etc/netplan/60-c1m-lab.yaml`;
    const install = (addresses: string[], extra: string[] = []) =>
      remote(installNetplanDropInScript({ stagedPath: staged, addresses, iface: NS_IF, root, waitSeconds: 5 }), prelude(extra));

    const first = renderNetplanDropIn({ netplanId: id, addresses: [a(15), a(25)] });
    stage(first);
    assert.match(ok(install([a(15), a(25)]), "install"), /carries the lab addresses/);
    assert.equal(readFileSync(dest, "utf8"), first);
    assert.equal(mode(dest), 0o600);
    assert.equal(statSync(dest).uid, 0);
    assert.deepEqual(nsAddrs(), [`${nsIp}/24`, a(15), a(25)]);
    assert.equal(await probe(`10.203.${subnet}.15`, PORT), "ECONNREFUSED", "the new address answers inside the namespace");
    const lines = logLines();
    assert.match(lines[0]!, /^generate --root-dir \/tmp\//, "validated first");
    assert.equal(lines.filter((l) => l === "apply").length, 1);
    assert.ok(lines.indexOf("apply") > 0);

    // Again, unchanged: no apply.
    ok(install([a(15), a(25)]), "install again");
    assert.equal(logLines().filter((l) => l === "apply").length, 1, "an unchanged drop-in is not re-applied");

    // A drop-in netplan rejects: nothing installed, nothing applied.
    stage(`network:\n  version: 2\n  ethernets:\n    ${id}:\n      addresses: [10.203.${subnet}.300/24]\n`);
    const rejected = install([a(15)]);
    assert.notEqual(rejected.status, 0);
    assert.match(rejected.stderr, /malformed address/);
    assert.match(
      rejected.stderr,
      /netplan generate rejected the configuration with the drop-in; nothing was installed or applied/,
    );
    assert.equal(readFileSync(dest, "utf8"), first);
    assert.equal(logLines().filter((l) => l === "apply").length, 1);

    // apply fails: the previous drop-in is put back.
    stage(renderNetplanDropIn({ netplanId: id, addresses: [a(15), a(45)] }));
    const failed = install([a(15), a(45)], ["export C1MT_APPLY_FAIL=1"]);
    assert.notEqual(failed.status, 0);
    assert.match(failed.stderr, /netplan apply failed; the previous netplan configuration was put back/);
    assert.equal(readFileSync(dest, "utf8"), first);
    assert.ok(!nsAddrs().includes(a(45)));

    // A changed list: the dropped address is deleted, the new one added.
    const second = renderNetplanDropIn({ netplanId: id, addresses: [a(15), a(35)] });
    stage(second);
    assert.match(
      ok(install([a(15), a(35)]), "install changed"),
      new RegExp(`deleted 10\\.203\\.${subnet}\\.25/24 \\(no longer listed\\)`),
    );
    assert.deepEqual(nsAddrs(), [`${nsIp}/24`, a(15), a(35)]);

    // An interface that does not exist.
    const noIf = remote(
      installNetplanDropInScript({ stagedPath: staged, addresses: [a(15)], iface: "c1mtnope0", root }),
      prelude(),
    );
    assert.notEqual(noIf.status, 0);
    assert.match(noIf.stderr, /interface c1mtnope0 does not exist on .* \(it has: .*lo/);

    // Remove: drop-in gone, our addresses gone, the host's file and primary address as they were; twice.
    for (let i = 0; i < 2; i++)
      ok(remote(removeNetplanDropInScript({ addresses: [a(15), a(35)], iface: NS_IF, root }), prelude()), `remove #${i + 1}`);
    assert.equal(existsSync(dest), false);
    assert.deepEqual(nsAddrs(), [`${nsIp}/24`]);
    assert.equal(readFileSync(hostFile, "utf8"), hostText);
    assert.equal(mode(hostFile), 0o600);
    // apply ran: first install, the failed attempt and its rollback, the changed install, the first remove (the second found nothing).
    assert.equal(logLines().filter((l) => l === "apply").length, 5);
  });

  test("server unit: written 0644 as rendered, started by the unit's own ExecStart/LimitNOFILE, /healthz awaited; unchanged re-run does not restart; a dead server fails in bounded time; remove leaves nothing", () => {
    // Test double for systemctl (no systemd here): `start` runs the unit file's ExecStart, read with
    // systemd's rules (specifiers, quotes, C escapes, $$), under the unit's LimitNOFILE via prlimit,
    // in its WorkingDirectory, detached; `stop` kills it; every call is logged.
    const root = `${tmp}/unitroot`;
    const bin = `${tmp}/systemctl-bin`;
    const state = `${tmp}/systemctl-state`;
    const log = `${tmp}/systemctl.log`;
    mkdirSync(bin);
    mkdirSync(state);
    writeFileSync(`${bin}/systemctl`, FAKE_SYSTEMCTL.replace("#!node", `#!${process.execPath}`));
    chmodSync(`${bin}/systemctl`, 0o755);
    const prelude = [`export PATH=${bin}:$PATH C1MT_ROOT=${root} C1MT_STATE=${state} C1MT_SYSTEMCTL_LOG=${log} HOME=/root`];
    const calls = () =>
      readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as string[]);
    const pidOf = (unit: string) => Number(readFileSync(`${state}/${unit}.service.pid`, "utf8"));
    const alive = (p: number) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    };
    const mkWorkdir = (dir: string) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${dir}/server.mjs`, TEST_SERVER);
    };
    const nrOpenBefore = readFileSync("/proc/sys/fs/nr_open", "utf8");

    const workdir = `${tmp}/c1m-work`;
    mkWorkdir(workdir);
    const opts: ServerUnitOptions = {
      workdir,
      nodePath: process.execPath,
      entry: `${workdir}/server.mjs`,
      nodeArgs: ["--no-warnings"],
      serverArgs: [
        "--info",
        `${tmp}/server-info.json`,
        "--metrics-address",
        "127.0.0.1",
        "--metrics-port",
        "9100",
        `x'; touch ${tmp}/PWNED #`,
        "$HOME",
        "100%h",
        ";",
        'a"b\\c',
      ],
      limitNofile: 4096,
      nrOpen: 4096,
      metricsPort: 9100,
      healthTimeoutSeconds: 15,
      root,
    };
    assert.match(
      ok(remote(installServerUnitScript(opts), prelude), "install unit"),
      /c1m-lab-server\.service is up \(http:\/\/127\.0\.0\.1:9100\/healthz answers\)/,
    );
    const unitFile = `${root}/etc/systemd/system/c1m-lab-server.service`;
    assert.equal(readFileSync(unitFile, "utf8"), renderServerUnit(opts));
    assert.equal(mode(unitFile), 0o644);
    assert.deepEqual(calls(), [["daemon-reload"], ["enable", "c1m-lab-server.service"], ["restart", "c1m-lab-server.service"]]);
    const info = JSON.parse(readFileSync(`${tmp}/server-info.json`, "utf8")) as { args: string[]; cwd: string; nofile: number };
    assert.deepEqual(info.args, opts.serverArgs, "the server got exactly its arguments");
    assert.equal(info.nofile, 4096, "LimitNOFILE applied");
    assert.equal(info.cwd, workdir);
    assert.equal(existsSync(`${tmp}/PWNED`), false);
    assert.equal(
      inNs("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9100; printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3; head -1 <&3").trim(),
      "HTTP/1.1 200 OK",
    );
    assert.equal(readFileSync("/proc/sys/fs/nr_open", "utf8"), nrOpenBefore, "nr_open left alone when LimitNOFILE fits");
    const serverPid = pidOf("c1m-lab-server");

    ok(remote(installServerUnitScript(opts), prelude), "install unit again");
    assert.deepEqual(
      calls().slice(3),
      [["daemon-reload"], ["enable", "--now", "c1m-lab-server.service"]],
      "unchanged: no restart",
    );
    assert.equal(pidOf("c1m-lab-server"), serverPid);
    assert.ok(alive(serverPid));

    // A server that dies at once: the script gives up after healthTimeoutSeconds with a clear line.
    const badDir = `${tmp}/c1m-bad`;
    mkWorkdir(badDir);
    const bad: ServerUnitOptions = {
      ...opts,
      unitName: "c1m-lab-bad",
      workdir: badDir,
      entry: `${badDir}/server.mjs`,
      serverArgs: ["--info", `${tmp}/bad-info.json`, "--exit-at-once"],
      metricsPort: 9101,
      healthTimeoutSeconds: 2,
    };
    const started = Date.now();
    const dead = remote(installServerUnitScript(bad), prelude);
    assert.notEqual(dead.status, 0);
    assert.match(dead.stderr, /c1m-lab-bad\.service did not answer http:\/\/127\.0\.0\.1:9101\/healthz within 2s/);
    assert.ok(Date.now() - started < 15_000);
    ok(remote(removeServerUnitScript({ unitName: "c1m-lab-bad", workdir: badDir, root }), prelude), "remove bad unit");

    for (let i = 0; i < 2; i++) ok(remote(removeServerUnitScript({ workdir, root }), prelude), `remove unit #${i + 1}`);
    assert.equal(alive(serverPid), false, "server stopped");
    assert.equal(existsSync(unitFile) || existsSync(workdir) || existsSync(badDir), false, "unit file and workdirs gone");
    assert.ok(calls().some((c) => c.join(" ") === "disable --now c1m-lab-server.service"));
  });
});

describe(
  "multipass scripts' logic, against a recording double (multipass is not installed here)",
  { skip: process.platform !== "linux" ? "needs bash" : false },
  () => {
    let dir = "";
    const env = () => ({ ...process.env, PATH: `${dir}/bin:${process.env.PATH}`, C1MT_MP: `${dir}/state` });
    const run = (text: string, extra: NodeJS.ProcessEnv = {}) => sh("bash", ["-s"], { input: text, env: { ...env(), ...extra } });
    const calls = () =>
      existsSync(`${dir}/state/log`)
        ? readFileSync(`${dir}/state/log`, "utf8")
            .trim()
            .split("\n")
            .map((l) => l.split("\x1f"))
        : [];

    before(() => {
      dir = mkdtempSync("/tmp/c1mt-mp-");
      mkdirSync(`${dir}/bin`);
      mkdirSync(`${dir}/state`);
      writeFileSync(`${dir}/bin/multipass`, FAKE_MULTIPASS);
      chmodSync(`${dir}/bin/multipass`, 0o755);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    test("launch script logic, against a recording double of multipass: launched and recorded; an instance not recorded as this stack's is refused, never adopted; a recorded one is deleted and launched anew; a failed launch or cloud-init deletes what it launched; delete twice", () => {
      const record = `${dir}/stack/multipass-instance`;
      const cloudInit = "#cloud-config\nusers: [default]\n# it's $(not run)\n";
      const launch = (o: Partial<Parameters<typeof multipassLaunchScript>[0]> = {}) =>
        multipassLaunchScript({
          instance: "c1mt",
          release: "24.04",
          cpus: 2,
          memory: "1G",
          disk: "5G",
          cloudInit,
          recordPath: record,
          timeoutSeconds: 60,
          ...o,
        });
      const since = (n: number) =>
        calls()
          .slice(n)
          .map((c) => c.slice(0, 3).join(" "));
      const exists = () => existsSync(`${dir}/state/c1mt`);

      const launched = ok(run(launch()), "launch");
      assert.match(launched, /c1m-lab: launched multipass instance c1mt/);
      // Read back through `multipass exec`: the key the VM got is the one made here.
      const pub = /^ {2}ed25519_public: (.*)$/m.exec(readFileSync(`${dir}/state/cloud-init.stdin`, "utf8"))![1]!;
      assert.match(pub, /^ssh-ed25519 AAAA/);
      assert.ok(launched.endsWith(`c1m-lab: multipass instance c1mt is ready\nc1m-lab: ssh host key ${pub}\n`), launched);
      assert.deepEqual(
        calls().find((c) => c[0] === "launch"),
        [
          "launch",
          "24.04",
          "--name",
          "c1mt",
          "--cpus",
          "2",
          "--memory",
          "1G",
          "--disk",
          "5G",
          "--cloud-init",
          "-",
          "--timeout",
          "60",
        ],
      );
      // Through stdin: the multipass snap cannot read files outside the user's home.
      // The text as it is, then the VM's new host key; the key the VM presents is read back and printed.
      const stdin = readFileSync(`${dir}/state/cloud-init.stdin`, "utf8");
      assert.ok(stdin.startsWith(`${cloudInit}ssh_deletekeys: true\nssh_keys:\n  ed25519_private: |\n`), stdin);
      assert.deepEqual(calls().slice(-2), [
        ["exec", "c1mt", "--", "cloud-init", "status", "--wait"],
        ["exec", "c1mt", "--", "cat", "/etc/ssh/ssh_host_ed25519_key.pub"],
      ]);
      assert.equal(readFileSync(record, "utf8"), "c1mt\n", "recorded as this stack's");
      assert.equal(run(multipassAddressScript("c1mt")).stdout, "10.9.8.7\n");

      // Recorded as this stack's (a create cut short): deleted, then launched anew.
      let n = calls().length;
      const again = run(launch());
      ok(again, "relaunch");
      assert.match(
        again.stderr,
        /the multipass instance c1mt is this stack's, left by a create that did not finish: deleting it/,
      );
      assert.deepEqual(since(n), ["info c1mt", "delete --purge c1mt", "launch 24.04 --name", "exec c1mt --", "exec c1mt --"]);

      // Not recorded (the user's own instance of that name): refused, left as it is.
      rmSync(record);
      writeFileSync(`${dir}/state/c1mt`, "Stopped");
      n = calls().length;
      const theirs = run(launch());
      assert.notEqual(theirs.status, 0);
      assert.match(
        theirs.stderr,
        /c1m-lab: a multipass instance named c1mt exists and is not this lab's \(the lab never adopts an instance it did not launch\): delete it \(multipass delete --purge c1mt\) or set server\.instance to another name/,
      );
      assert.deepEqual(since(n), ["info c1mt"], "not started, launched or deleted");
      assert.equal(readFileSync(`${dir}/state/c1mt`, "utf8"), "Stopped");
      assert.equal(existsSync(record), false, "and not recorded");
      rmSync(`${dir}/state/c1mt`);

      // cloud-init fails after a launch that succeeded: the instance goes before the create exits.
      n = calls().length;
      const badInit = run(launch(), { C1MT_CLOUDINIT_RC: "1" });
      assert.notEqual(badInit.status, 0);
      assert.match(badInit.stderr, /cloud-init in c1mt did not finish cleanly \(exit 1\)/);
      assert.match(badInit.stderr, /c1m-lab: the create failed: deleted the multipass instance c1mt it launched/);
      assert.deepEqual(since(n), ["info c1mt", "launch 24.04 --name", "exec c1mt --", "info c1mt", "delete --purge c1mt"]);
      assert.equal(exists(), false, "no instance left");
      assert.equal(existsSync(record) || existsSync(`${dir}/stack`), false, "no record left");

      // multipass launch fails after making the instance (its own timeout): deleted as well.
      const badLaunch = run(launch(), { C1MT_LAUNCH_RC: "2" });
      assert.notEqual(badLaunch.status, 0);
      assert.match(badLaunch.stderr, /deleted the multipass instance c1mt it launched/);
      assert.equal(exists() || existsSync(record), false);

      // The delete cannot go: the record stays, so the next create knows the instance is this stack's.
      const stuck = run(launch(), { C1MT_CLOUDINIT_RC: "1", C1MT_DELETE_RC: "1" });
      assert.match(stuck.stderr, /could not delete the multipass instance c1mt: delete it by hand .* keeps it this stack's/);
      assert.equal(exists() && existsSync(record), true);
      ok(run(launch()), "the next create deletes it and launches anew");

      ok(run(launch(), { C1MT_CLOUDINIT_RC: "2" }), "cloud-init finished with recoverable errors");

      rmSync(`${dir}/state/c1mt.ip`);
      const noIp = run(multipassAddressScript("c1mt", { timeoutSeconds: 1 }));
      assert.notEqual(noIp.status, 0);
      assert.match(noIp.stderr, /multipass instance c1mt has no IPv4 address after 1s/);

      // Delete gets the create step's stdout (PULUMI_COMMAND_STDOUT): one an older version adopted is the user's.
      const adopted = "c1m-lab: adopting the existing multipass instance c1mt (state Stopped)\n";
      assert.match(
        ok(run(multipassDeleteScript("c1mt", record), { PULUMI_COMMAND_STDOUT: adopted }), "delete adopted"),
        /was adopted, not launched by the lab: left in place/,
      );
      assert.equal(exists(), true, "the user's instance is kept");
      assert.match(
        ok(run(multipassDeleteScript("c1mt", record), { PULUMI_COMMAND_STDOUT: launched }), "delete"),
        /deleted multipass instance c1mt/,
      );
      assert.deepEqual(calls().at(-1), ["delete", "--purge", "c1mt"]);
      assert.equal(exists() || existsSync(record) || existsSync(`${dir}/stack`), false, "instance and record gone");
      n = calls().length;
      assert.match(
        ok(run(multipassDeleteScript("c1mt", record), { PULUMI_COMMAND_STDOUT: launched }), "delete again"),
        /does not exist; nothing to delete/,
      );
      assert.deepEqual(since(n), ["info c1mt"]);
    });
  },
);

// multipass double: state files per instance (its state, its IPv4), every call logged (\x1f between args).
const FAKE_MULTIPASS = `#!/bin/bash
S=$C1MT_MP
(IFS=$'\\x1f'; printf '%s\\n' "$*") >> "$S/log"
case "$1" in
  info)
    [ -f "$S/$2" ] || { echo "info failed: instance \\"$2\\" does not exist" >&2; exit 2; }
    ip=$(cat "$S/$2.ip" 2>/dev/null || true)
    if [ "\${3:-}" = --format ]; then printf '{"errors":[],"info":{"%s":{"state":"%s","ipv4":[%s]}}}\\n' "$2" "$(cat "$S/$2")" "\${ip:+\\"$ip\\"}"
    else echo "Name: $2"; echo "State: $(cat "$S/$2")"; fi ;;
  launch) shift; stdin=; while [ $# -gt 0 ]; do [ "$1" = --name ] && n=$2; [ "$1" = --cloud-init ] && [ "$2" = - ] && stdin=1; shift; done; [ -n "$stdin" ] && cat > "$S/cloud-init.stdin"; echo Running > "$S/$n"; echo 10.9.8.7 > "$S/$n.ip"
    # cloud-init's cc_ssh: the seeded public host key becomes the instance's.
    sed -n 's/^  ed25519_public: //p' "$S/cloud-init.stdin" > "$S/$n.hostkey"; exit "\${C1MT_LAUNCH_RC:-0}" ;;
  start) echo Running > "$S/$2" ;;
  recover) echo Stopped > "$S/$2" ;;
  exec)
    case "$*" in
      *cloud-init*) exit "\${C1MT_CLOUDINIT_RC:-0}" ;;
      *"cat /etc/ssh/ssh_host_ed25519_key.pub"*) if [ -n "\${C1MT_VM_HOSTKEY:-}" ]; then echo "$C1MT_VM_HOSTKEY root@vm"; else [ -s "$S/$2.hostkey" ] && echo "$(cat "$S/$2.hostkey") root@vm"; fi ;;
      *) echo "fake multipass: unknown exec $*" >&2; exit 1 ;;
    esac ;;
  delete) [ "\${C1MT_DELETE_RC:-0}" = 0 ] || exit "$C1MT_DELETE_RC"; n=\${*: -1}; rm -f "$S/$n" "$S/$n.ip" ;;
  *) echo "fake multipass: unknown command $1" >&2; exit 1 ;;
esac
`;

// The "server": answers /healthz, records its argv, cwd and open-file limit.
const TEST_SERVER = `import http from "node:http";
import fs from "node:fs";
const args = process.argv.slice(2);
const opt = (n) => args[args.indexOf(n) + 1];
const limits = fs.readFileSync("/proc/self/limits", "utf8").split("\\n").find((l) => l.startsWith("Max open files")).split(/\\s+/);
fs.writeFileSync(opt("--info"), JSON.stringify({ args, cwd: process.cwd(), nofile: Number(limits[3]) }));
if (args.includes("--exit-at-once")) process.exit(3);
http.createServer((req, res) => { res.writeHead(req.url === "/healthz" ? 200 : 404); res.end("ok\\n"); })
  .listen(Number(opt("--metrics-port")), opt("--metrics-address"));
`;

const FAKE_SYSTEMCTL = `#!node
const fs = require("fs");
const { spawn } = require("child_process");
const argv = process.argv.slice(2);
const { C1MT_ROOT: root, C1MT_STATE: state, C1MT_SYSTEMCTL_LOG: log } = process.env;
fs.appendFileSync(log, JSON.stringify(argv) + "\\n");
const [cmd, ...rest] = argv;
const unit = rest.filter((a) => !a.startsWith("-"))[0];
const now = rest.includes("--now");
const pidFile = (u) => state + "/" + u + ".pid";
function words(line) {
  const raw = line.replace(/%(.)/g, (_, c) => { if (c === "%") return "%"; throw new Error("specifier %" + c); });
  const out = [];
  let i = 0;
  while (i < raw.length) {
    while (raw[i] === " ") i++;
    if (i >= raw.length) break;
    let w = "", q = null;
    for (; i < raw.length; i++) {
      const c = raw[i];
      if (c === "\\\\") { const n = raw[++i]; w += n === "n" ? "\\n" : n === "t" ? "\\t" : n; }
      else if (q) { if (c === q) q = null; else w += c; }
      else if (c === '"' || c === "'") q = c;
      else if (c === " ") break;
      else w += c;
    }
    if (q) throw new Error("unbalanced quoting");
    out.push(w.replace(/\\$\\$|\\$\\{([A-Za-z_]\\w*)\\}|\\$([A-Za-z_]\\w*)/g, (m, a, b) => (m === "$$" ? "$" : process.env[a || b] || "")));
  }
  return out;
}
function running(u) {
  try { const p = Number(fs.readFileSync(pidFile(u), "utf8")); process.kill(p, 0); return p; } catch { return 0; }
}
function start(u) {
  if (running(u)) return;
  const path = root + "/etc/systemd/system/" + u;
  if (!fs.existsSync(path)) { console.error("Unit " + u + " not found."); process.exit(5); }
  const text = fs.readFileSync(path, "utf8");
  const get = (k) => (text.split("\\n").find((l) => l.startsWith(k + "=")) || "").slice(k.length + 1);
  const nofile = get("LimitNOFILE");
  const out = fs.openSync(state + "/" + u + ".log", "a");
  const child = spawn("prlimit", ["--nofile=" + nofile + ":" + nofile, "--", ...words(get("ExecStart"))],
    { cwd: get("WorkingDirectory"), detached: true, stdio: ["ignore", out, out] });
  fs.writeFileSync(pidFile(u), String(child.pid));
  child.unref();
}
function stop(u) {
  const p = running(u);
  if (!p) return;
  process.kill(p, "SIGTERM");
  const until = Date.now() + 3000;
  while (Date.now() < until) { try { process.kill(p, 0); } catch { return; } Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); }
  try { process.kill(p, "SIGKILL"); } catch {}
}
switch (cmd) {
  case "daemon-reload": case "reset-failed": case "status": break;
  case "enable": if (now) start(unit); break;
  case "disable": if (now) stop(unit); break;
  case "start": start(unit); break;
  case "stop": stop(unit); break;
  case "restart": stop(unit); start(unit); break;
  default: console.error("fake systemctl: unknown command " + cmd); process.exit(1);
}
`;
