// test.scenario conntrack-flush in the stack config, the lab's steps and verify's command line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseLabConfig } from "../../infra/config/schema.js";
import { connectionTestArgs, scenarioArgs } from "../../infra/check/args.js";
import { clientSteps } from "../../infra/clients/steps.js";
import { UsageError } from "../../workload/cliArgs.js";
import { parseVerifyArgs } from "../../workload/verify/args.js";
import { loadFixture } from "./verify-fixtures.js";

const FLUSH = { scenario: "conntrack-flush" };
const PING_10 = { ping: { intervalSeconds: 10 } };

function rejects(input: Record<string, unknown>, message: string): void {
  assert.throws(
    () => parseLabConfig(input),
    (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, `Invalid c1m-lab config:\n${message}`);
      return true;
    },
  );
}

test("conntrack-flush: accepted with pings every 10 s at most, on a netns or a VM server; its flags carry the client subnets", () => {
  const c = parseLabConfig({ clients: PING_10, test: FLUSH });
  assert.deepEqual([c.test.scenario, c.test.maxRecoverySeconds], ["conntrack-flush", undefined]);
  assert.deepEqual(scenarioArgs(c.test, ["172.30.201.0/24", "172.30.202.0/24"]), [
    "--scenario",
    "conntrack-flush",
    "--max-recovery-seconds",
    "60",
    "--flush-sources",
    "172.30.201.0/24,172.30.202.0/24",
  ]);
  const vm = parseLabConfig({
    server: { provider: "qemu", image: "/x.qcow2", secondaryAddresses: { count: 1 } },
    clients: { ping: { intervalSeconds: 1 } },
    test: { ...FLUSH, maxRecoverySeconds: 19 },
  });
  assert.equal(vm.test.maxRecoverySeconds, 19);
});

test("conntrack-flush refuses: pings rarer than 10 s (the default 100), a bound under 19 s, clients.hosts over ssh, find-limit", () => {
  rejects(
    { test: FLUSH },
    "✖ conntrack-flush needs the held connections to send while it watches (their pings must find the NAT again): make clients.ping.intervalSeconds at most 10, got 100\n  → at clients.ping.intervalSeconds",
  );
  rejects(
    { clients: PING_10, test: { ...FLUSH, maxRecoverySeconds: 18 } },
    "✖ conntrack-flush watches until every connection has pinged after the delete and its answer was due: make maxRecoverySeconds at least 19, got 18\n  → at test.maxRecoverySeconds",
  );
  rejects(
    {
      clients: {
        ...PING_10,
        hosts: [
          { name: "a", docker: "local" },
          {
            name: "b",
            docker: "ssh://c1m@10.0.0.5",
            hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0tqD4d7ORqO0JxWOmGgRkAwQcI4s0r2RaYzQwVHXkH",
          },
        ],
      },
      test: FLUSH,
    },
    "✖ conntrack-flush deletes the lab's NAT entries with conntrack on this machine only, for the clients of clients.subnet; clients.hosts puts clients behind other hosts' NAT (b (ssh://c1m@10.0.0.5)), where it would need a root command over ssh, which the lab does not run: leave clients.hosts unset for this scenario\n  → at clients.hosts",
  );
  rejects(
    { clients: PING_10, test: { ...FLUSH, mode: "find-limit", findLimit: { stepConnections: 100 } } },
    "✖ conntrack-flush follows a hold of the whole target, and find-limit stops at its first broken step: use one of test.mode: find-limit or test.scenario: conntrack-flush per run\n  → at test.scenario",
  );
  rejects(
    { clients: { ...PING_10, reconnect: { baseMs: 90_000, capMs: 90_000 } }, test: FLUSH },
    "✖ a dropped connection waits up to clients.reconnect.baseMs (90000 ms) before it reconnects: make maxRecoverySeconds (unset, it is 60) more than 90 s\n  → at test.maxRecoverySeconds",
  );
});

test("a flush's clients get C1M_RECONNECT=1 and its test --flush-sources with the client networks' subnets", () => {
  const plan = { ...loadFixture("nat-pool-1ip").plan, needs: { containerNofile: 1024 } } as unknown as Parameters<
    typeof clientSteps
  >[1];
  const paths = {
    reportsDir: "reports",
    installDir: "/i",
    staged: { verify: { path: "/s/verify.js", sha256: "x" }, clientImage: { context: "/c", dockerfile: "/c/Dockerfile" } },
  } as unknown as Parameters<typeof clientSteps>[3];
  const c = parseLabConfig({ clients: { ...PING_10, subnet: "172.30.201.0/24" }, test: FLUSH });
  const steps = clientSteps(c, plan, "dev", paths, { natDestinations: ["10.201.0.0/24"] });
  assert.equal(steps.containers[0]!.env.C1M_RECONNECT, "1");
  const i = steps.verifyArgs.indexOf("--flush-sources");
  assert.deepEqual(steps.verifyArgs.slice(i - 4, i + 2), [
    "--scenario",
    "conntrack-flush",
    "--max-recovery-seconds",
    "60",
    "--flush-sources",
    "172.30.201.0/24",
  ]);
  const endpoints = { metricsUrl: "http://10.201.0.2:9100", clientsLabel: "c1m-lab.stack=dev" };
  assert.equal(connectionTestArgs(parseLabConfig({}), "dev", paths, endpoints).includes("--flush-sources"), false);
});

test("verify: --scenario conntrack-flush needs --flush-sources of IPv4 subnets no wider than /8; --flush-sources only with it", () => {
  const plan = JSON.stringify(loadFixture("nat-pool-1ip").plan);
  const parse = (argv: string[]) => parseVerifyArgs(["--metrics-url", "http://10.201.0.2:9100", ...argv], { C1M_PLAN: plan });
  const ok = parse(["--scenario", "conntrack-flush", "--flush-sources", "172.30.201.0/24,10.0.0.0/8"]);
  assert.ok(!ok.help);
  assert.deepEqual(
    [ok.options.scenario, ok.options.maxRecoverySeconds, ok.options.flushSources],
    ["conntrack-flush", 60, ["172.30.201.0/24", "10.0.0.0/8"]],
  );
  const messages: Array<[string[], string]> = [
    [
      ["--scenario", "conntrack-flush"],
      "--flush-sources: required with --scenario conntrack-flush (the lab's client subnets, e.g. 172.30.201.0/24)",
    ],
    [
      ["--scenario", "conntrack-flush", "--flush-sources", "0.0.0.0/0"],
      "--flush-sources: 0.0.0.0/0 is wider than /8: the flush deletes only the lab's client subnets, never most of the table",
    ],
    [
      ["--scenario", "conntrack-flush", "--flush-sources", "172.30.201.0/24;rm -rf /"],
      '--flush-sources: expected IPv4 subnets like 172.30.201.0/24, comma-separated; got "172.30.201.0/24;rm -rf /"',
    ],
    [
      ["--scenario", "conntrack-flush", "--flush-sources", "172.30.201.0"],
      '--flush-sources: expected IPv4 subnets like 172.30.201.0/24, comma-separated; got "172.30.201.0"',
    ],
    [["--flush-sources", "172.30.201.0/24"], "--flush-sources: only with --scenario conntrack-flush"],
  ];
  for (const [argv, message] of messages) {
    assert.throws(
      () => parse(argv),
      (e: unknown) => e instanceof UsageError && e.message === message,
      message,
    );
  }
});
