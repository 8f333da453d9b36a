// Several client hosts in the connection test: the flags that name them (keys only as files),
// the server's per-client-IP counts split per host, the progress line at 20 hosts, the remote
// conntrack reading, and the verdict naming a lost host, a silent host and the hosts that limited.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../workload/cliArgs.js";
import { parseClientHosts } from "../../workload/verify/hostArgs.js";
import { hostShares, hostsProgressVariants, serverPerHost, type HostShare } from "../../workload/verify/hosts.js";
import { withHosts } from "../../workload/verify/hostDiagnosis.js";
import { progressLine, PROGRESS_WIDTH } from "../../workload/verify/progress.js";
import { parseRemoteConntrack } from "../../workload/verify/sshHost.js";
import { clientHostArgs } from "../../infra/check/args.js";
import type { Diagnosis } from "../../workload/verify/diagnose.js";
import type { HostView, Observation, Run, VerifyPlan } from "../../workload/verify/types.js";
import type { ServerStats } from "../../shared/protocol.js";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB/eemYF8JoPM/xd6mj4jw8HIo4qWZRKiFJgxrkUPDBq";

function stats(perRemoteIp: Record<string, number>): ServerStats {
  const total = Object.values(perRemoteIp).reduce((a, b) => a + b, 0);
  return {
    total,
    accepted: total,
    closed: 0,
    acceptRate: 0,
    workers: 1,
    uptimeSeconds: 10,
    perLocalAddress: { "10.201.9.2:9000": total },
    perRemoteIp,
    samples: {},
    sharedSourcePorts: {},
  };
}

const share = (name: string, source: string, docker = "local"): HostShare => ({
  name,
  docker,
  sources: [source],
  containers: 1,
  target: 1500,
  predicted: 1000,
  bindingLimit: "nat-pool",
  capacity: "1 source IP × 1 server IP × 1,000 ports",
});

const view = (name: string, server: number | null, error: string | null = null): HostView => ({
  name,
  server,
  clients: error ? null : { running: 1, count: 1, established: server ?? 0 },
  error,
  conntrack: null,
  conntrackError: null,
});

const obs = (t: number, hosts: HostView[]): Observation => ({
  t,
  server: null,
  serverError: null,
  clients: null,
  clientsError: null,
  conntrack: null,
  conntrackError: null,
  hosts,
});

const run = (observations: Observation[]): Run => ({
  observations,
  stopReason: "stall",
  soakStartIndex: null,
  soakSeconds: 0,
  timeoutSeconds: 90,
  stallSeconds: 6,
  intervalSeconds: 2,
});

const plateau = { verdict: "plateau-as-expected", limit: "nat-pool", diagnosis: "Plateau at 2,000." } as Diagnosis;

describe("verify --client-host flags", () => {
  it("names each host: local, and ssh with its pinned key and its key file", () => {
    const hosts = parseClientHosts({
      "client-host": ["local=local", "b=ssh://root@10.203.9.2:22"],
      "client-host-key": [`b=${KEY}`],
      "client-host-identity": ["b=/var/lib/c1m-lab/clients-two-hosts-b/id_ed25519"],
    });
    assert.deepEqual(hosts, [
      { name: "local", docker: "local" },
      {
        name: "b",
        docker: { user: "root", host: "10.203.9.2", port: 22, hostKey: KEY },
        identityFile: "/var/lib/c1m-lab/clients-two-hosts-b/id_ed25519",
      },
    ]);
  });

  it("refuses an ssh host without its host key, naming the host", () => {
    assert.throws(
      () => parseClientHosts({ "client-host": ["b=ssh://root@10.203.9.2"] }),
      (e: Error) => e instanceof UsageError && /--client-host-key: required for host b/.test(e.message),
    );
  });

  it("refuses a key for a host not given, and a bad URL", () => {
    assert.throws(
      () => parseClientHosts({ "client-host": ["a=local"], "client-host-key": [`b=${KEY}`] }),
      /no --client-host named b/,
    );
    assert.throws(() => parseClientHosts({ "client-host": ["b=tcp://x:2375"] }), /host b: expected local or ssh:/);
  });

  it("the program passes names, URLs, public keys and key files (no key text)", () => {
    assert.deepEqual(
      clientHostArgs([
        { name: "local", docker: "local" },
        { name: "b", docker: "ssh://root@10.203.9.2:22", hostKey: KEY, identityFile: "/var/lib/x/id_ed25519" },
      ]),
      [
        "--client-host",
        "local=local",
        "--client-host",
        "b=ssh://root@10.203.9.2:22",
        "--client-host-key",
        `b=${KEY}`,
        "--client-host-identity",
        "b=/var/lib/x/id_ed25519",
      ],
    );
  });
});

describe("per-host totals", () => {
  it("splits the server's per-client-IP counts by each host's sources; a named source is unknown", () => {
    const shares = [share("local", "10.201.9.1"), share("b", "10.203.9.2"), share("c", "host c")];
    assert.deepEqual(serverPerHost(stats({ "10.201.9.1": 1000, "10.203.9.2": 990 }), shares), {
      local: 1000,
      b: 990,
      c: null,
    });
  });

  it("reads the plan's hosts, and none from a plan without them", () => {
    const plan = { hosts: [share("b", "10.203.9.2")] } as unknown as VerifyPlan;
    assert.deepEqual(
      hostShares(plan).map((h) => h.name),
      ["b"],
    );
    assert.deepEqual(hostShares({} as VerifyPlan), []);
  });

  it("the progress line lists 2 hosts, and stays within 160 characters at 20 hosts with lost ones", () => {
    assert.equal(hostsProgressVariants([view("local", 1000), view("b", 1000)])[0], "hosts local 1,000 · b 1,000");
    const many = Array.from({ length: 20 }, (_, i) =>
      i === 7 || i === 12 ? view(`rack-${i}`, null, "ssh: connect ECONNREFUSED") : view(`rack-${i}`, i === 3 ? 12 : 50_000),
    );
    const o: Observation = { ...obs(12.5, many), server: stats({ "10.0.0.1": 900_012 }) };
    const line = progressLine(o, null, 1_000_000);
    assert.ok(line.length <= PROGRESS_WIDTH, `${line.length}: ${line}`);
    assert.match(line, /20 hosts 12–50,000, median 50,000; unreachable rack-7, rack-12/);
  });

  it("reads a remote host's conntrack files", () => {
    const stat =
      "entries searched found new invalid ignore delete delete_list insert insert_failed drop early_drop\n" +
      "00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000001 00000000\n" +
      "00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000\n";
    assert.deepEqual(parseRemoteConntrack(`1042\n262144\n${stat}`), {
      count: 1042,
      max: 262144,
      insertFailed: 3,
      drop: 1,
      earlyDrop: 0,
      searchRestart: 0,
    });
    assert.throws(() => parseRemoteConntrack("cat: /proc/sys/net/netfilter/nf_conntrack_count: No such file\n"));
  });
});

describe("the verdict names hosts", () => {
  const shares = [share("local", "10.201.9.1"), share("b", "10.203.9.2", "ssh://root@10.203.9.2:22")];

  it("a host lost mid-test fails the test by name, with when and why", () => {
    const r = run([
      obs(0, [view("local", 1000), view("b", 1000)]),
      obs(2, [view("local", 1000), view("b", 1000)]),
      obs(4, [
        view("local", 1000),
        view("b", 1000, "client host b: docker: listing containers failed: ssh root@10.203.9.2:22: connect ECONNREFUSED"),
      ]),
      obs(6, [
        view("local", 1000),
        view("b", 0, "client host b: docker: listing containers failed: ssh root@10.203.9.2:22: connect ECONNREFUSED"),
      ]),
    ]);
    const d = withHosts(plateau, shares, r);
    assert.equal(d.verdict, "fail");
    assert.equal(d.limit, "client-host-lost");
    assert.match(
      d.diagnosis,
      /^Client host b was lost at 4 s \(docker: listing containers failed: ssh root@10\.203\.9\.2:22: connect ECONNREFUSED\)/,
    );
    assert.match(d.diagnosis, /the server holds from it: b 0 \(peak 1,000\)/);
    assert.deepEqual(
      d.hosts?.map((h) => [h.name, h.server, h.lost?.since ?? null]),
      [
        ["local", 1000, null],
        ["b", 0, 4],
      ],
    );
  });

  it("a host whose clients never connected is named; the hosts short of target are listed", () => {
    const r = run([obs(0, [view("local", 1000), view("b", 0)]), obs(2, [view("local", 1000), view("b", 0)])]);
    const d = withHosts({ ...plateau, verdict: "fail" }, shares, r);
    assert.match(d.diagnosis, /Client host b: no client connected \(0 of 1,500\)/);
    assert.match(
      d.diagnosis,
      /Limited per client host: b 0 of 1,500 \(nat-pool: .*; below its plan's 1,000\) and local 1,000 of 1,500/,
    );
    assert.equal(d.verdict, "fail");
  });

  it("leaves a run without hosts as it was", () => {
    assert.equal(withHosts(plateau, [], run([])), plateau);
  });
});

describe("per-host figures in the report and on the dashboard", () => {
  it("the report has a row per host and the total", async () => {
    const { hostsMarkdown } = await import("../../workload/verify/hostReport.js");
    const shares = [share("local", "10.201.9.1"), share("b", "10.203.9.2", "ssh://root@10.203.9.2:22")];
    const d = withHosts(plateau, shares, run([obs(0, [view("local", 1000), view("b", 1000)])]));
    const md = hostsMarkdown(d.hosts).join("\n");
    assert.match(md, /^## Per client host/);
    assert.match(
      md,
      /\| b +\| ssh:\/\/root@10\.203\.9\.2:22 \| +1,500 \| +1,000 \| nat-pool: 1 source IP × 1 server IP × 1,000 ports \| +1,000 \|/,
    );
    assert.match(md, /\| \*\*total\*\* +\| +\| +\*\*3,000\*\* \| +\*\*2,000\*\* \| +\| +\*\*2,000\*\* \|/);
    assert.deepEqual(hostsMarkdown(undefined), []);
  });

  it("the dashboard state carries each host's view of the latest poll", async () => {
    const { initialState, withObservation } = await import("../../workload/verify/dashboardState.js");
    const plan = { target: 3000, predicted: 2000, bindingLimit: "nat-pool" as const, serverAddresses: ["10.201.9.2"] };
    const o = {
      ...obs(2, [view("local", 1000), view("b", null, "client host b: ssh: timed out")]),
      server: stats({ "10.201.9.1": 1000 }),
    };
    const s = withObservation(initialState("two-hosts", plan, 0), o, o, "ramp");
    assert.deepEqual(
      s.latest?.hosts?.map((h) => [h.name, h.server, h.error]),
      [
        ["local", 1000, null],
        ["b", null, "client host b: ssh: timed out"],
      ],
    );
  });
});
