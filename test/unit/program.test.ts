// The compiled entry point under Pulumi's mocks, once per shipped Pulumi.<stack>.yaml, passed as
// config the way Pulumi passes it. Asserts the resource graph, the exact scripts and the
// container settings, and that bad input stops before any resource is registered.
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { planCapacity, REFERENCE_FACTS } from "../../infra/plan/capacity.js";
import { parseLabConfig } from "../../infra/config/schema.js";
import { pulumiConfigJson, readStackConfig, stackNames } from "../../infra/config/stackFile.js";
import { natPoolCreateScript } from "../../infra/clients/natPool.js";
import { netnsAddressesCreateScript, netnsAddressesDeleteScript } from "../../infra/server/netns/scripts/addresses.js";
import { netnsHostCreateScript, netnsHostDeleteScript } from "../../infra/server/netns/scripts/host.js";
import { serverStartScript, serverStopScript } from "../../infra/server/netns/scripts/server.js";
import { tuningCreateScript, tuningDeleteScript } from "../../infra/server/netns/scripts/tuning.js";
import { labSteps } from "../../infra/server/netns/steps.js";
import { type LabPaths } from "../../infra/plan/paths.js";
import { FAKE_REPORT, runProgram, upstreamTriggers } from "../support/mockProgram.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const localStacks = stackNames(root).filter(
  (s) => (readStackConfig(root, s).server as { provider?: string } | undefined)?.provider === "netns",
);

test("every shipped stack is covered", () => {
  assert.ok(
    localStacks.includes("local") && localStacks.includes("snat-1ip") && localStacks.includes("snat-3ip"),
    localStacks.join(","),
  );
});

for (const stack of localStacks) {
  test(`stack ${stack}: resource graph, scripts and containers`, async () => {
    const config = pulumiConfigJson(root, stack);
    const run = await runProgram(config, { stack });
    const lab = parseLabConfig(readStackConfig(root, stack));
    const plan = planCapacity(lab, REFERENCE_FACTS);
    const paths: LabPaths = { root, node: process.execPath, stateDir: `/run/c1m-lab/${stack}`, reportsDir: `${root}/reports` };
    const steps = labSteps(lab, plan, stack, paths);

    // Components and their parents.
    const parentOf = (name: string) => run.byName(name).parent;
    assert.equal(run.byName("lab").type, "c1m-lab:index:Lab");
    for (const [name, type] of [
      ["server-host", "c1m-lab:server:NetnsServerHost"],
      ["secondary-ips", "c1m-lab:server:SecondaryIps"],
      ["tuning", "c1m-lab:server:Tuning"],
      ["connection-server", "c1m-lab:server:ConnectionServer"],
      ["clients", "c1m-lab:clients:ClientFleet"],
      ["connection-test", "c1m-lab:test:ConnectionTest"],
    ] as const) {
      assert.equal(run.byName(name).type, type);
      assert.equal(parentOf(name), "lab", `${name} is a child of the lab`);
    }

    // Order: host → addresses, tuning → server → clients → test.
    assert.deepEqual(run.byName("connection-server").dependsOn.sort(), ["secondary-ips", "tuning"]);
    assert.deepEqual(run.byName("clients").dependsOn, ["connection-server"]);
    assert.deepEqual(run.byName("connection-test").dependsOn, ["clients"]);
    assert.deepEqual(upstreamTriggers(run.byName("secondary-ips-addresses").inputs.triggers), ["server-host-namespace_id"]);
    assert.deepEqual(upstreamTriggers(run.byName("tuning-sysctls").inputs.triggers), ["server-host-namespace_id"]);
    assert.deepEqual(upstreamTriggers(run.byName("connection-server-process").inputs.triggers), [
      "server-host-namespace_id",
      "secondary-ips-addresses_id",
      "tuning-sysctls_id",
    ]);

    // The exact scripts the builders make for this stack.
    const commands: [string, string, string, string][] = [
      ["server-host-namespace", "server-host", netnsHostCreateScript(steps.host), netnsHostDeleteScript(steps.host)],
      [
        "secondary-ips-addresses",
        "secondary-ips",
        netnsAddressesCreateScript(steps.addresses),
        netnsAddressesDeleteScript(steps.addresses),
      ],
      ["tuning-sysctls", "tuning", tuningCreateScript(steps.tuning), tuningDeleteScript(steps.tuning)],
      ["connection-server-process", "connection-server", serverStartScript(steps.server), serverStopScript(steps.server)],
    ];
    for (const [name, parent, create, del] of commands) {
      const r = run.byName(name);
      assert.equal(r.type, "command:local:Command");
      assert.equal(r.parent, parent);
      assert.equal(r.inputs.create, create, `${name} create`);
      assert.equal(r.inputs.delete, del, `${name} delete`);
      assert.deepEqual(r.inputs.interpreter, ["/bin/bash", "-c"]);
    }
    assert.match(String(run.byName("connection-server-process").inputs.create), new RegExp(`--workers ${plan.serverWorkers}\\b`));

    // NAT pool rule only where the stack narrows the pool.
    const nat = run.resources.find((r) => r.name === "clients-nat-pool");
    assert.equal(Boolean(nat), Boolean(lab.clients.natPortRange), "NAT pool step iff natPortRange");
    if (nat) {
      assert.equal(nat.inputs.create, natPoolCreateScript(steps.natPool));
      assert.match(String(nat.inputs.create), /MASQUERADE --to-ports 40000-40999/);
    }

    // Image, networks, containers.
    const image = run.byName("clients-image");
    assert.equal(image.type, "docker:index/image:Image");
    assert.equal(image.inputs.imageName, `c1m-lab-client:${stack}`);
    // host-node by default: a per-stack base from this machine's node, made before the image.
    assert.deepEqual((image.inputs.build as { args: unknown }).args, { BASE_IMAGE: `c1m-lab-node:${stack}` });
    assert.deepEqual(image.dependsOn, ["clients-base-image"]);
    assert.match(String(run.byName("clients-base-image").inputs.create), new RegExp(`^name=c1m-lab-node:${stack}; node=`, "m"));
    const networks = run.resources.filter((r) => r.type === "docker:index/network:Network");
    assert.deepEqual(
      networks.map((n) => n.inputs.name),
      steps.networks.map((n) => n.name),
    );
    for (const [i, n] of networks.entries()) {
      assert.deepEqual(n.inputs.ipamConfigs, [{ subnet: steps.networks[i]!.subnet }]);
      assert.deepEqual(n.inputs.options, steps.networks[i]!.options);
    }
    const strategy = lab.clients.sourceIps.strategy;
    if (strategy === "host-ips" || strategy === "both") {
      // One network per client IP, SNAT'd to it; the host side of the veth carries the addresses.
      assert.deepEqual(
        networks.map((n) => (n.inputs.options as Record<string, string>)["com.docker.network.host_ipv4"]),
        plan.clientSources,
      );
      for (const a of lab.clients.sourceIps.addresses) {
        assert.ok(
          String(run.byName("server-host-namespace").inputs.create).includes(
            `ip addr replace ${a} dev ${steps.host.hostInterface}`,
          ),
        );
      }
    }
    if (strategy === "routed") {
      assert.deepEqual(
        networks.map((n) => n.inputs.options),
        [{ "com.docker.network.bridge.enable_ip_masquerade": "false" }],
      );
    }
    const containers = run.resources.filter((r) => r.type === "docker:index/container:Container");
    assert.equal(containers.length, lab.clients.containers);
    for (const [i, c] of containers.entries()) {
      const spec = steps.containers[i]!;
      assert.equal(c.parent, "clients");
      assert.equal(c.inputs.name, spec.name);
      assert.equal(c.inputs.image, "sha256:0123abcd", "containers run the image just built");
      assert.deepEqual(
        c.inputs.sysctls,
        lab.clients.localPortRange === "docker-default" ? {} : { "net.ipv4.ip_local_port_range": "1024 65535" },
        "the container's port range widened unless the stack keeps Docker's default",
      );
      assert.deepEqual(c.inputs.networksAdvanced, [{ name: spec.network }]);
      assert.deepEqual(c.inputs.ulimits, [{ name: "nofile", soft: 20_000, hard: 20_000 }]);
      const env = Object.fromEntries((c.inputs.envs as string[]).map((e) => e.split(/=(.*)/s).slice(0, 2)));
      assert.equal(env.C1M_CONNECTIONS, String(lab.clients.connectionsPerContainer));
      assert.equal(env.C1M_TARGETS, plan.containers[i]!.targets.join(","));
      assert.equal(env.C1M_PING_INTERVAL_SECONDS, String(lab.clients.ping.intervalSeconds));
      assert.equal(env.C1M_TARGET_ORDER, lab.clients.targetOrder);
      const labels = Object.fromEntries((c.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));
      assert.equal(labels["c1m-lab.stack"], stack);
      assert.equal(
        labels["c1m-lab.upstream"],
        lab.clients.natPortRange && lab.clients.sourceIps.strategy !== "routed"
          ? "connection-server-process_id,clients-nat-pool_id"
          : "connection-server-process_id",
        "clients restart with the server and the NAT pool",
      );
      assert.equal(c.inputs.restart, "on-failure");
    }
    if (lab.clients.assignment === "per-container") {
      assert.deepEqual(
        containers.map((c) => (c.inputs.envs as string[]).find((e) => e.startsWith("C1M_TARGETS="))),
        plan.serverAddresses.map((a) => `C1M_TARGETS=${a}:9000`),
        "the article's layout: container i → server address i",
      );
    }

    // The connection test reruns when clients change and becomes the stack outputs.
    const verify = run.byName("connection-test-verify");
    assert.deepEqual(upstreamTriggers(verify.inputs.triggers), [
      "connection-server-process_id",
      containers.map((c) => `${c.name}_id`).join(","),
    ]);
    assert.deepEqual(
      JSON.parse((verify.inputs.environment as { C1M_PLAN: string }).C1M_PLAN),
      JSON.parse(JSON.stringify({ ...plan, liveWarnings: undefined })),
    );
    assert.match(String(verify.inputs.create), new RegExp(`--expect ${lab.test.expect}`));
    assert.equal(run.outputs.verdict, FAKE_REPORT.verdict);
    assert.equal(run.outputs.total, FAKE_REPORT.total);
    assert.equal(run.outputs.predicted, plan.predicted);
    assert.deepEqual(run.outputs.serverAddresses, plan.serverAddresses);
  });
}

test("bad config fails before any resource, naming the key and the value", async () => {
  const run = await runProgram({ "c1m-lab:clients": JSON.stringify({ containers: 0, connectRate: "fast" }) });
  assert.ok(pulumi.RunError.isInstance(run.error), "a RunError: Pulumi prints it without a stack trace");
  assert.equal(
    (run.error as Error).message,
    [
      "Invalid c1m-lab config:",
      "✖ Too small: expected number to be >=1; got 0",
      "  → at clients.containers",
      '✖ Invalid input: expected number, received string; got "fast"',
      "  → at clients.connectRate",
    ].join("\n"),
  );
  assert.deepEqual(run.resources, [], "nothing registered");
});

test("a target above the ceiling without expect: plateau is rejected with the numbers", async () => {
  const run = await runProgram({
    "c1m-lab:clients": JSON.stringify({ containers: 4, connectionsPerContainer: 19_000 }),
  });
  assert.ok(pulumi.RunError.isInstance(run.error));
  const message = (run.error as Error).message;
  assert.match(message, /target of 76,000 connections/);
  assert.match(message, /NAT source-port pool 1024–65535 \(64,512 ports\)/);
  assert.match(message, /test\.expect: plateau/);
  assert.deepEqual(run.resources, [], "nothing registered");
});

test("a hostile value never reaches a script unquoted", async () => {
  const run = await runProgram({ "c1m-lab:server": JSON.stringify({ provider: "netns", namespace: "x; rm -rf /" }) });
  assert.match(
    (run.error as Error).message,
    /a namespace name: 1-32 of a-z 0-9 _ \. -; got "x; rm -rf \/"\n {2}→ at server\.namespace/,
  );
  assert.deepEqual(run.resources, []);
});
