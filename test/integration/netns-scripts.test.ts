// Every script a local.Command of the netns lab runs, run for real: create (twice: idempotent),
// check the effect, delete (twice), check nothing is left. Names and addresses are the test's own.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type NatPoolArgs, natPoolCreateScript, natPoolDeleteScript } from "../../infra/clients/natPool.js";
import { hostFactsScript } from "../../infra/plan/facts.js";
import {
  type AddressesArgs,
  netnsAddressesCreateScript,
  netnsAddressesDeleteScript,
} from "../../infra/server/netns/scripts/addresses.js";
import {
  type NetnsHostArgs,
  netnsHostCreateScript,
  netnsHostDeleteScript,
  netnsHostInstanceScript,
} from "../../infra/server/netns/scripts/host.js";
import {
  type ServerProcessArgs,
  serverRestartScript,
  serverStartScript,
  serverStopScript,
} from "../../infra/server/netns/scripts/server.js";
import { type TuningArgs, tuningCreateScript, tuningDeleteScript } from "../../infra/server/netns/scripts/tuning.js";
import { parseHostFacts } from "../../infra/plan/facts.js";
import { needsRoot, runScript, sh } from "../support/sh.js";

const id = process.pid % 10_000;
const octet = 100 + (process.pid % 150);
const stateDir = mkdtempSync(join(tmpdir(), "c1mt-state-"));
const host: NetnsHostArgs = {
  namespace: `c1mt-${id}`,
  hostInterface: `c1mt${id}h`,
  interface: `c1mt${id}s`,
  hostAddress: `10.209.${octet}.1/24`,
  primaryAddress: `10.209.${octet}.2/24`,
  hostSourceAddresses: [`10.209.${octet}.11/24`],
  stateDir,
  owner: `c1m-lab:nstest-${id}`,
  ehashEntries: 0,
};
const secondaries = [`10.209.${octet}.3/24`, `10.209.${octet}.4/24`];

function ok(script: string, what: string): string {
  const r = runScript(script);
  assert.equal(r.code, 0, `${what}: ${r.stderr}`);
  return r.stdout;
}

function cleanup() {
  runScript(`ip netns del ${host.namespace} 2>/dev/null; ip link del ${host.hostInterface} 2>/dev/null; true`);
  rmSync(stateDir, { recursive: true, force: true });
}

test("netns server host, addresses, server process (start, replace, restart): create, effect, delete, no residue", async (t) => {
  if (!needsRoot(t)) return;
  t.after(cleanup);

  for (let i = 0; i < 2; i++) ok(netnsHostCreateScript(host), `host create #${i + 1}`);
  assert.match(sh("ip netns list"), new RegExp(`^${host.namespace}\\b`, "m"));
  const hostSide = sh(`ip -o addr show dev ${host.hostInterface}`);
  assert.match(hostSide, new RegExp(`10\\.209\\.${octet}\\.1/24`));
  assert.match(hostSide, new RegExp(`10\\.209\\.${octet}\\.11/24`), "client source address on the host side");
  assert.match(sh(`ip -n ${host.namespace} -o addr show dev ${host.interface}`), new RegExp(`10\\.209\\.${octet}\\.2/24`));
  assert.match(sh(`ip -n ${host.namespace} route`), new RegExp(`default via 10\\.209\\.${octet}\\.1`));
  assert.equal(sh("cat /proc/sys/net/ipv4/ip_forward").trim(), "1");

  const addresses: AddressesArgs = { namespace: host.namespace, interface: host.interface, addresses: secondaries };
  for (let i = 0; i < 2; i++) ok(netnsAddressesCreateScript(addresses), `addresses create #${i + 1}`);
  const inside = sh(`ip -n ${host.namespace} -o -4 addr show dev ${host.interface}`);
  for (const a of secondaries) assert.ok(inside.includes(a), `${a} in ${inside}`);
  // The host reaches every server address over the veth (traffic into our own namespace): a closed
  // port answers with a reset, so "refused" proves the address is there.
  for (const a of [host.primaryAddress, ...secondaries]) {
    const r = runScript(`timeout 3 bash -c 'exec 3<>/dev/tcp/${a.split("/")[0]}/9'`);
    assert.match(r.stderr, /Connection refused/, `${a} answers`);
  }

  // A stand-in server: prints the ready line, holds on; the script must return while it runs.
  const fake = join(stateDir, "fake-server.mjs");
  writeFileSync(
    fake,
    `console.log(JSON.stringify({type:"listening", args: process.argv.slice(2)})); setInterval(() => {}, 1000);`,
  );
  const server: ServerProcessArgs = {
    namespace: host.namespace,
    stateDir,
    node: process.execPath,
    nodeArgs: [],
    serverJs: fake,
    serverArgs: ["--port", "9000", "--label", "it's quoted"],
    readyTimeoutSeconds: 10,
  };
  const started = Date.now();
  const pid = ok(serverStartScript(server), "server start").trim();
  assert.ok(Date.now() - started < 8000, "create returns while the server keeps running");
  assert.match(pid, /^\d+$/);
  assert.equal(sh(`ip netns identify ${pid}`).trim(), host.namespace, "the server runs inside the namespace");
  assert.match(sh(`cat ${stateDir}/server.log`), /"args":\["--port","9000","--label","it's quoted"\]/);
  // Starting again replaces it.
  const pid2 = ok(serverStartScript(server), "server restart").trim();
  assert.notEqual(pid2, pid);
  assert.equal(runScript(`kill -0 ${pid}`).code, 1, "the old server is gone");
  // The reconnect storm's restart: killed, started again with the same command.
  const pid3 = ok(serverRestartScript(server), "server restart (storm)").trim();
  assert.match(pid3, /^\d+$/);
  assert.notEqual(pid3, pid2);
  assert.equal(runScript(`kill -0 ${pid2}`).code, 1, "the killed server is gone");
  assert.equal(sh(`ip netns identify ${pid3}`).trim(), host.namespace, "the new server runs inside the namespace");
  assert.match(sh(`cat ${stateDir}/server.log`), /"args":\["--port","9000","--label","it's quoted"\]/);

  for (let i = 0; i < 2; i++) ok(serverStopScript(server), `server stop #${i + 1}`);
  assert.equal(runScript(`kill -0 ${pid3}`).code, 1, "the server is stopped");
  assert.ok(!existsSync(join(stateDir, "server.pid")));

  for (let i = 0; i < 2; i++) ok(netnsAddressesDeleteScript(addresses), `addresses delete #${i + 1}`);
  const left = sh(`ip -n ${host.namespace} -o -4 addr show dev ${host.interface}`);
  for (const a of secondaries) assert.ok(!left.includes(a), `${a} removed`);

  for (let i = 0; i < 2; i++) ok(netnsHostDeleteScript(host), `host delete #${i + 1}`);
  assert.doesNotMatch(sh("ip netns list"), new RegExp(`^${host.namespace}\\b`, "m"));
  assert.equal(runScript(`ip link show ${host.hostInterface}`).code, 1, "no veth left");
  assert.ok(!existsSync(stateDir), "no state left");
});

test("a server that dies at start fails the step with its log", async (t) => {
  if (!needsRoot(t)) return;
  t.after(cleanup);
  ok(netnsHostCreateScript(host), "host create");
  const bad = join(stateDir, "bad-server.mjs");
  writeFileSync(bad, `console.error("cannot listen: EADDRINUSE"); process.exit(3);`);
  const r = runScript(
    serverStartScript({
      namespace: host.namespace,
      stateDir,
      node: process.execPath,
      nodeArgs: [],
      serverJs: bad,
      serverArgs: [],
      readyTimeoutSeconds: 5,
    }),
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, /the connection server did not start/);
  assert.match(r.stderr, /cannot listen: EADDRINUSE/);
  ok(netnsHostDeleteScript(host), "host delete");
});

test("host delete ends what still runs in the namespace (a start cut short by a killed pulumi up), even a process that ignores SIGTERM", async (t) => {
  if (!needsRoot(t)) return;
  t.after(cleanup);
  ok(netnsHostCreateScript(host), "host create");
  // A duration of this test's own, so no other process matches.
  const sleeper = `sleep ${3000 + id}`;
  sh(`ip netns exec ${host.namespace} setsid ${sleeper} </dev/null >/dev/null 2>&1 &`);
  sh(`ip netns exec ${host.namespace} setsid bash -c 'trap "" TERM; ${sleeper}' </dev/null >/dev/null 2>&1 &`);
  sh("sleep 0.5");
  assert.equal(sh(`ip netns pids ${host.namespace}`).trim().split("\n").length >= 2, true, "two processes inside");
  ok(netnsHostDeleteScript(host), "host delete");
  assert.doesNotMatch(sh("ip netns list"), new RegExp(`^${host.namespace}\\b`, "m"));
  // A SIGKILLed process leaves the namespace a moment before it leaves the process table.
  const left = sh(
    `for i in $(seq 1 20); do pgrep -f '^${sleeper}$' >/dev/null || break; sleep 0.25; done; pgrep -fc '^${sleeper}$' || true`,
  );
  assert.equal(left.trim(), "0", "nothing of the namespace still runs");
});

test("server stop resets the namespace's connections: the peer sees a reset, not a FIN", async (t) => {
  if (!needsRoot(t)) return;
  t.after(cleanup);
  ok(netnsHostCreateScript(host), "host create");
  const fake = join(stateDir, "listening-server.mjs");
  writeFileSync(
    fake,
    `import net from "node:net"; net.createServer(() => {}).listen(9000, () => console.log(JSON.stringify({type:"listening"})));`,
  );
  const server: ServerProcessArgs = {
    namespace: host.namespace,
    stateDir,
    node: process.execPath,
    nodeArgs: [],
    serverJs: fake,
    serverArgs: [],
    readyTimeoutSeconds: 10,
  };
  ok(serverStartScript(server), "server start");
  const peer = spawn(
    process.execPath,
    [
      "-e",
      `const s = require("net").connect(9000, ${JSON.stringify(host.primaryAddress.split("/")[0])}, () => console.log("connected"));
       s.on("end", () => { console.log("FIN"); process.exit(0); });
       s.on("error", (e) => { console.log(e.code); process.exit(0); });
       setTimeout(() => { console.log("nothing"); process.exit(0); }, 15000);`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  peer.stdout.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise((resolve) => peer.on("exit", resolve));
  for (let i = 0; i < 50 && !out.includes("connected"); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, /connected/);
  ok(serverStopScript(server), "server stop");
  await exited;
  assert.equal(out.trim().split("\n").pop(), "ECONNRESET");
  ok(netnsHostDeleteScript(host), "host delete");
});

/**
 * A tuning case: the namespace made, the two host keys the cases change read as they are now,
 * and put back (with everything else of the case) however it ends.
 */
function tuningCase(t: TestContext) {
  t.after(cleanup);
  ok(netnsHostCreateScript(host), "host create");
  const key = "net.netfilter.nf_conntrack_max";
  const timeWait = "net.netfilter.nf_conntrack_tcp_timeout_time_wait";
  const read = (k: string) => sh(`sysctl -n ${k}`).trim();
  const before = read(key);
  const timeWaitBefore = read(timeWait);
  t.after(() => {
    runScript(`sysctl -qw ${key}=${before} ${timeWait}=${timeWaitBefore}`);
  });
  return { key, timeWait, read, before, timeWaitBefore };
}

test("tuning raises host limits only when below, sets namespace keys, and restores exactly", async (t) => {
  if (!needsRoot(t)) return;
  const { key, timeWait, read, before, timeWaitBefore } = tuningCase(t);
  const tuning: TuningArgs = {
    stateDir,
    raise: {
      [key]: Number(before) + 4096,
      "fs.nr_open": 1024 /* already higher: left alone */,
      "net.ipv4.c1m_no_such_key": 5 /* as tcp_child_ehash_entries before kernel 6.1 */,
    },
    set: { [timeWait]: "7" },
    namespace: host.namespace,
    namespaceSysctls: { "net.core.somaxconn": "54321", "net.ipv4.ip_local_port_range": "1024 65535" },
  };
  const nrOpen = read("fs.nr_open");
  for (let i = 0; i < 2; i++) {
    const r = runScript(tuningCreateScript(tuning));
    assert.equal(r.code, 0, `tuning create #${i + 1}: ${r.stderr}`);
    assert.match(r.stderr, /c1m-lab: tuning: net\.ipv4\.c1m_no_such_key is not on this kernel: left/);
  }
  assert.equal(read(key), String(Number(before) + 4096));
  assert.equal(read(timeWait), "7");
  assert.equal(read("fs.nr_open"), nrOpen, "a limit already above what is needed is untouched");
  assert.equal(sh(`ip netns exec ${host.namespace} sysctl -n net.core.somaxconn`).trim(), "54321");
  assert.equal(
    sh(`ip netns exec ${host.namespace} sysctl -n net.ipv4.ip_local_port_range`).trim().replace(/\s+/g, " "),
    "1024 65535",
  );
  assert.notEqual(read("net.core.somaxconn"), "54321", "the host's own somaxconn is not the namespace's");

  writeFileSync(join(stateDir, "in-use"), "");
  for (let i = 0; i < 2; i++) ok(tuningDeleteScript(tuning), `tuning delete #${i + 1}`);
  assert.equal(read(key), before, "restored");
  assert.equal(read(timeWait), timeWaitBefore, "restored");
  assert.ok(existsSync(join(stateDir, "in-use")), "the state dir stays while something else still uses it");
  ok(netnsHostDeleteScript(host), "host delete");
});

test("tuning delete leaves a key that someone changed since create as it is, and restores the rest", async (t) => {
  if (!needsRoot(t)) return;
  const { key, timeWait, read, before, timeWaitBefore } = tuningCase(t);
  const tuning: TuningArgs = {
    stateDir,
    raise: { [key]: Number(before) + 4096 },
    set: { [timeWait]: "7" },
    namespace: host.namespace,
    namespaceSysctls: {},
  };
  ok(tuningCreateScript(tuning), "tuning create");
  // Another lab raises the limit further while this one runs.
  sh(`sysctl -qw ${key}=${Number(before) + 8192}`);
  const r = runScript(tuningDeleteScript(tuning));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(read(key), String(Number(before) + 8192), "the other lab's value stays");
  assert.match(r.stderr, /net\.netfilter\.nf_conntrack_max is \d+, not the value the lab set .*left as it is/);
  assert.equal(read(timeWait), timeWaitBefore, "a key still holding the lab's value is restored");
  ok(netnsHostDeleteScript(host), "host delete");
});

test("a tuning create that fails puts back the host keys it raised and keeps an earlier create's record", async (t) => {
  if (!needsRoot(t)) return;
  const { key, timeWait, read, before, timeWaitBefore } = tuningCase(t);
  // An earlier create that succeeded: its record of time_wait must outlive the failed one.
  ok(tuningCreateScript({ stateDir, raise: {}, set: { [timeWait]: "7" }, namespaceSysctls: {} }), "first create");
  const failing: TuningArgs = {
    stateDir,
    raise: { [key]: Number(before) + 4096 },
    set: { [timeWait]: "9", "net.ipv4.c1m_no_such_key": "1" },
    namespaceSysctls: {},
  };
  const r = runScript(tuningCreateScript(failing));
  assert.notEqual(r.code, 0, "the create fails on the key that does not exist");
  assert.match(r.stderr, /tuning create failed: put back the 1 host key\(s\) it had changed/);
  assert.equal(read(key), before, "the raised limit is back");
  assert.ok(!existsSync(join(stateDir, "sysctl.before", key)), "no record of a key it put back");
  assert.ok(!existsSync(join(stateDir, "sysctl.before", "net.ipv4.c1m_no_such_key")), "no empty record");
  assert.equal(sh(`cat ${join(stateDir, "sysctl.before", timeWait)}`).trim(), timeWaitBefore, "the first create's record stays");
  ok(tuningDeleteScript(failing), "tuning delete");
  assert.equal(read(timeWait), timeWaitBefore, "the first create's key is restored by delete");
  ok(netnsHostDeleteScript(host), "host delete");
});

test("the NAT pool rule is added once, ahead of Docker's, and removed completely", async (t) => {
  if (!needsRoot(t)) return;
  const nat: NatPoolArgs = {
    source: `172.31.${octet}.0/24`,
    destination: `10.209.${octet}.0/24`,
    from: 40000,
    to: 40099,
    comment: `c1m-lab:test-${id}`,
  };
  const snat: NatPoolArgs = { ...nat, source: `172.31.${octet + 1}.0/24`, toSource: `10.209.${octet}.11` };
  const rules = () =>
    sh("iptables -t nat -S POSTROUTING")
      .split("\n")
      .filter((l) => l.includes(nat.comment));
  t.after(() => {
    runScript(natPoolDeleteScript([nat, snat]));
  });
  for (let i = 0; i < 2; i++) ok(natPoolCreateScript([nat, snat]), `nat create #${i + 1}`);
  assert.equal(rules().length, 2, "one rule per client network");
  assert.ok(rules().some((r) => r.includes("-j MASQUERADE --to-ports 40000-40099")));
  assert.ok(
    rules().some((r) => r.includes(`-j SNAT --to-source 10.209.${octet}.11:40000-40099`)),
    "host-ips: SNAT to that network's address",
  );
  const chain = sh("iptables -t nat -S POSTROUTING").split("\n");
  assert.ok(chain[1]!.includes(nat.comment) && chain[2]!.includes(nat.comment), "ahead of Docker's rules");
  for (let i = 0; i < 2; i++) ok(natPoolDeleteScript([nat, snat]), `nat delete #${i + 1}`);
  assert.equal(rules().length, 0, "no rule left");
});

test("host facts are this machine's", (t) => {
  if (!needsRoot(t)) return;
  const facts = parseHostFacts(ok(hostFactsScript(), "facts"));
  assert.equal(facts.fdHardLimit, Number(sh("bash -c 'ulimit -Hn'").trim()));
  assert.equal(facts.conntrackMax, Number(sh("sysctl -n net.netfilter.nf_conntrack_max").trim()));
  assert.ok(facts.memAvailableBytes > 0);
});

test("without root and without passwordless sudo, a step fails with a clear message", (t) => {
  if (!needsRoot(t)) return;
  const r = runScript(netnsHostCreateScript({ ...host, namespace: `c1mt-nr-${id}` }), { user: "nobody" });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /this step needs root: run as root or allow passwordless sudo/);
  assert.doesNotMatch(sh("ip netns list"), new RegExp(`c1mt-nr-${id}`));
});

test("netns host: links of the lab's names that are not the lab's are refused, never adopted or deleted", (t) => {
  if (!needsRoot(t)) return;
  t.after(cleanup);
  // Someone else's veth under the lab's host-side name (no owner mark).
  sh(`ip link add ${host.hostInterface} type veth peer name ${host.hostInterface}p`);
  const r = runScript(netnsHostCreateScript(host));
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`server.hostInterface: a link named ${host.hostInterface} exists and is not this lab's`));
  assert.doesNotMatch(sh("ip netns list"), new RegExp(`^${host.namespace}\\b`, "m"), "no namespace made");
  ok(netnsHostDeleteScript(host), "delete");
  assert.equal(runScript(`ip link show ${host.hostInterface}`).code, 0, "the user's link is still there");
  sh(`ip link del ${host.hostInterface}`);

  // Someone else's namespace under the lab's name.
  sh(`ip netns add ${host.namespace}`);
  const r2 = runScript(netnsHostCreateScript(host));
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, new RegExp(`server.namespace: a namespace named ${host.namespace} exists and is not this lab's`));
  ok(netnsHostDeleteScript(host), "delete");
  assert.match(sh("ip netns list"), new RegExp(`^${host.namespace}\\b`, "m"), "the user's namespace is still there");
});

test("netns host: a create that fails half-way removes the namespace and link it made", (t) => {
  if (!needsRoot(t)) return;
  t.after(cleanup);
  // An address the kernel refuses (a /33) fails the create after the namespace and the veth exist.
  const r = runScript(netnsHostCreateScript({ ...host, primaryAddress: "10.209.0.2/33" }));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /server host \(netns\) create failed: undoing what it made/);
  assert.doesNotMatch(sh("ip netns list"), new RegExp(`^${host.namespace}\\b`, "m"));
  assert.equal(runScript(`ip link show ${host.hostInterface}`).code, 1, "no veth left");
});

test("netns host: the namespace gets a TCP hash of its own, and the host's tcp_child_ehash_entries is put back (also after a failed create)", (t) => {
  if (!needsRoot(t)) return;
  t.after(cleanup);
  const childKey = "/proc/sys/net/ipv4/tcp_child_ehash_entries";
  const before = sh(`cat ${childKey}`).trim();
  const entries = before === "32768" ? 65536 : 32768;
  ok(netnsHostCreateScript({ ...host, ehashEntries: entries }), "create");
  // The kernel shows a namespace's own table as its size, a shared one as minus the host's.
  assert.equal(sh(`ip netns exec ${host.namespace} cat /proc/sys/net/ipv4/tcp_ehash_entries`).trim(), String(entries));
  assert.equal(sh(`cat ${childKey}`).trim(), before, "the host's key is back");
  ok(netnsHostDeleteScript(host), "delete");

  ok(netnsHostCreateScript(host), "create without");
  assert.match(sh(`ip netns exec ${host.namespace} cat /proc/sys/net/ipv4/tcp_ehash_entries`).trim(), /^-\d+$/, "shared");
  ok(netnsHostDeleteScript(host), "delete");

  const r = runScript(netnsHostCreateScript({ ...host, ehashEntries: entries, primaryAddress: "10.209.0.2/33" }));
  assert.notEqual(r.code, 0);
  assert.equal(sh(`cat ${childKey}`).trim(), before, "the host's key is back after the failed create");
});

test("netns host: the instance token is read back while the host lives, and not once it is gone", (t) => {
  if (!needsRoot(t)) return;
  t.after(cleanup);
  const token = "0b5e0c1e-7d0a-4b8e-9d0e-2f6a3c9b1a77";
  assert.equal(runScript(netnsHostInstanceScript(host)).stdout, "", "nothing before the create");
  assert.equal(runScript(netnsHostCreateScript(host), { env: { C1M_HOST_INSTANCE: token } }).code, 0);
  assert.equal(runScript(netnsHostInstanceScript(host)).stdout.trim(), token);
  sh(`ip netns del ${host.namespace}`); // what a reboot does to it
  assert.equal(runScript(netnsHostInstanceScript(host)).stdout, "");
});
