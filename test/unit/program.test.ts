// The compiled entry point under Pulumi's mocks, once per shipped Pulumi.<stack>.yaml, passed as
// config the way Pulumi passes it. Asserts the resource graph, what each script does (the lines
// it must hold, in order, and that bash parses it) and the container settings against literal
// expectations per stack (STACKS below, worked out from the stack files by hand), and that bad
// input stops before any resource is registered.
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { pulumiConfigJson, readStackConfig, stackNames } from "../../infra/config/stackFile.js";
import { STAGE_DIR, assertLinesInOrder, runProgram, shellValue, upstreamTriggers } from "../support/mockProgram.js";
import { assertBashSyntax } from "../support/sh.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
// One client host (no clients.hosts): the stacks with several are in program-client-hosts.test.ts.
const localStacks = stackNames(root).filter(
  (s) =>
    (readStackConfig(root, s).server as { provider?: string } | undefined)?.provider === "netns" &&
    (readStackConfig(root, s).clients as { hosts?: unknown } | undefined)?.hosts === undefined,
);

/** What one netns stack must come out as. Addresses with a prefix length are CIDR, as in the stack file. */
interface NetnsStack {
  namespace: string;
  hostInterface: string;
  serverInterface: string;
  hostAddress: string;
  primaryAddress: string;
  secondaryAddresses: string[];
  /** Client source addresses on the host side of the veth (host-ips, both). */
  hostSourceAddresses: string[];
  /** The connection server's flags. */
  serverArgs: string;
  /** The host-wide limits tuning raises: fs.file-max, and conntrack max = buckets. */
  fileMax: number;
  conntrack: number;
  /** tcp_child_ehash_entries: the server namespace's own table, the client containers' (raised by tuning); 0 = shared. */
  ehash: { server: number; client: number };
  networks: { name: string; subnet: string; options: Record<string, string> }[];
  /** Per container: its network and its C1M_TARGETS. */
  containers: [network: string, targets: string][];
  /** The environment every container gets (besides C1M_TARGETS and C1M_CLIENT_NAME). */
  env: Record<string, string>;
  /** The connection test's flags between --reports-dir and --dashboard (each with a trailing space). */
  verifyAfter?: string;
  /** find-limit: each container's C1M_STEP_CONNECTIONS. */
  stepConnections?: string[];
  /** Containers get ip_local_port_range 1024 65535 (not Docker's default). */
  widePortRange: boolean;
  /** Our NAT pool rules (after POSTROUTING), or none. */
  natRules: string[] | null;
  /** The connection test's flags between --conntrack local and --stack. */
  verify: string;
  plan: {
    target: number;
    predicted: number;
    ceiling: number;
    bindingLimit: string;
    serverWorkers: number;
    serverListenGroups: number;
    clientSources: string[];
  };
}

const ENV = {
  C1M_TARGET_ORDER: "interleaved",
  C1M_CONNECT_RATE: "5000",
  C1M_MAX_IN_FLIGHT: "256",
  C1M_CONNECT_TIMEOUT_MS: "10000",
  C1M_PING_PAYLOAD: "ping",
  C1M_PING_INTERVAL_SECONDS: "100",
  C1M_HOLD_SECONDS: "0",
  C1M_RECONNECT_BASE_MS: "250",
  C1M_RECONNECT_CAP_MS: "30000",
  C1M_RECONNECT_JITTER: "full",
};
const times = <T>(n: number, x: T): T[] => Array.from({ length: n }, () => x);
/** million: 10.201.6.2 (primary) to 10.201.6.55. */
const MILLION_IPS = Array.from({ length: 54 }, (_, i) => `10.201.6.${i + 2}`);

const STACKS: Record<string, NetnsStack> = {
  local: {
    namespace: "c1m-local",
    hostInterface: "c1m-local-h",
    serverInterface: "c1m-local-s",
    hostAddress: "10.201.0.1/24",
    primaryAddress: "10.201.0.2/24",
    secondaryAddresses: ["10.201.0.3/24", "10.201.0.4/24"],
    hostSourceAddresses: [],
    serverArgs:
      "--port 9000 --addresses 10.201.0.2,10.201.0.3,10.201.0.4 --workers 3 --metrics-port 9100 --metrics-address 10.201.0.2 --backlog 4096 --expect-connections 45000 --listen-groups 3",
    fileMax: 155648,
    conntrack: 72704,
    ehash: { server: 65536, client: 0 },
    networks: [{ name: "c1m-local-clients", subnet: "172.30.201.0/24", options: {} }],
    containers: times(3, ["c1m-local-clients", "10.201.0.2:9000,10.201.0.3:9000,10.201.0.4:9000"]),
    env: { ...ENV, C1M_CONNECTIONS: "15000" },
    widePortRange: true,
    natRules: null,
    verify: "--expect all --timeout-seconds 120 --stall-seconds 10 --soak-seconds 0",
    plan: {
      target: 45000,
      predicted: 45000,
      ceiling: 193536,
      bindingLimit: "target",
      serverWorkers: 3,
      serverListenGroups: 3,
      clientSources: ["10.201.0.1"],
    },
  },
  "find-limit": {
    namespace: "c1m-findlim",
    hostInterface: "c1m-fl-h",
    serverInterface: "c1m-fl-s",
    hostAddress: "10.201.7.1/24",
    primaryAddress: "10.201.7.2/24",
    secondaryAddresses: [],
    hostSourceAddresses: [],
    serverArgs:
      "--port 9000 --addresses 10.201.7.2 --workers 6 --metrics-port 9100 --metrics-address 10.201.7.2 --backlog 4096 --expect-connections 100002",
    fileMax: 266240,
    conntrack: 142336,
    ehash: { server: 131072, client: 32768 },
    networks: [{ name: "c1m-find-limit-clients", subnet: "172.30.216.0/24", options: {} }],
    containers: times(6, ["c1m-find-limit-clients", "10.201.7.2:9000"]),
    env: { ...ENV, C1M_CONNECTIONS: "16667", C1M_CONNECT_TIMEOUT_MS: "3000" },
    // 10,000 per step over six containers of 16,667: shares in proportion, summing to the step.
    stepConnections: ["1667", "1667", "1667", "1667", "1666", "1666"],
    verifyAfter:
      "--mode find-limit --step-connections 10000 --step-seconds 10 --max-failure-rate 0.001 --min-mem-available-mib 256 --max-worker-cpu 0.9 ",
    widePortRange: true,
    natRules: null,
    verify: "--expect all --timeout-seconds 120 --stall-seconds 10 --soak-seconds 0",
    plan: {
      target: 100002,
      predicted: 64512,
      ceiling: 64512,
      bindingLimit: "nat-pool",
      serverWorkers: 6,
      serverListenGroups: 1,
      clientSources: ["10.201.7.1"],
    },
  },
  "snat-1ip": {
    namespace: "c1m-snat1",
    hostInterface: "c1m-snat1-h",
    serverInterface: "c1m-snat1-s",
    hostAddress: "10.201.1.1/24",
    primaryAddress: "10.201.1.2/24",
    secondaryAddresses: [],
    hostSourceAddresses: [],
    serverArgs:
      "--port 9000 --addresses 10.201.1.2 --workers 1 --metrics-port 9100 --metrics-address 10.201.1.2 --backlog 4096 --expect-connections 3000",
    fileMax: 71680,
    conntrack: 20480,
    ehash: { server: 0, client: 0 },
    networks: [{ name: "c1m-snat-1ip-clients", subnet: "172.30.202.0/24", options: {} }],
    containers: times(2, ["c1m-snat-1ip-clients", "10.201.1.2:9000"]),
    env: { ...ENV, C1M_CONNECTIONS: "1500", C1M_CONNECT_TIMEOUT_MS: "3000" },
    widePortRange: true,
    natRules: [
      "-s 172.30.202.0/24 -d 10.201.1.0/24 -p tcp -m comment --comment c1m-lab:snat-1ip -j MASQUERADE --to-ports 40000-40999",
    ],
    verify: "--expect plateau --timeout-seconds 60 --stall-seconds 5 --soak-seconds 0",
    plan: {
      target: 3000,
      predicted: 1000,
      ceiling: 1000,
      bindingLimit: "nat-pool",
      serverWorkers: 1,
      serverListenGroups: 1,
      clientSources: ["10.201.1.1"],
    },
  },
  "snat-3ip": {
    namespace: "c1m-snat3",
    hostInterface: "c1m-snat3-h",
    serverInterface: "c1m-snat3-s",
    hostAddress: "10.201.2.1/24",
    primaryAddress: "10.201.2.2/24",
    secondaryAddresses: ["10.201.2.3/24", "10.201.2.4/24"],
    hostSourceAddresses: [],
    serverArgs:
      "--port 9000 --addresses 10.201.2.2,10.201.2.3,10.201.2.4 --workers 1 --metrics-port 9100 --metrics-address 10.201.2.2 --backlog 4096 --expect-connections 2550",
    fileMax: 70656,
    conntrack: 20480,
    ehash: { server: 0, client: 0 },
    networks: [{ name: "c1m-snat-3ip-clients", subnet: "172.30.203.0/24", options: {} }],
    // The article's layout: container i → server address i.
    containers: [
      ["c1m-snat-3ip-clients", "10.201.2.2:9000"],
      ["c1m-snat-3ip-clients", "10.201.2.3:9000"],
      ["c1m-snat-3ip-clients", "10.201.2.4:9000"],
    ],
    env: { ...ENV, C1M_CONNECTIONS: "850" },
    widePortRange: true,
    natRules: [
      "-s 172.30.203.0/24 -d 10.201.2.0/24 -p tcp -m comment --comment c1m-lab:snat-3ip -j MASQUERADE --to-ports 40000-40999",
    ],
    verify: "--expect all --timeout-seconds 60 --stall-seconds 5 --soak-seconds 0",
    plan: {
      target: 2550,
      predicted: 2550,
      ceiling: 3000,
      bindingLimit: "target",
      serverWorkers: 1,
      serverListenGroups: 1,
      clientSources: ["10.201.2.1"],
    },
  },
  both: {
    namespace: "c1m-both",
    hostInterface: "c1m-both-h",
    serverInterface: "c1m-both-s",
    hostAddress: "10.201.5.1/24",
    primaryAddress: "10.201.5.2/24",
    secondaryAddresses: ["10.201.5.3/24"],
    hostSourceAddresses: ["10.201.5.11/24", "10.201.5.12/24"],
    serverArgs:
      "--port 9000 --addresses 10.201.5.2,10.201.5.3 --workers 4 --metrics-port 9100 --metrics-address 10.201.5.2 --backlog 4096 --expect-connections 76000 --listen-groups 2",
    fileMax: 218112,
    conntrack: 111616,
    ehash: { server: 131072, client: 32768 },
    // One network per client IP, SNAT'd to it.
    networks: [
      { name: "c1m-both-clients-0", subnet: "172.30.212.0/24", options: { "com.docker.network.host_ipv4": "10.201.5.11" } },
      { name: "c1m-both-clients-1", subnet: "172.30.213.0/24", options: { "com.docker.network.host_ipv4": "10.201.5.12" } },
    ],
    containers: [
      ["c1m-both-clients-0", "10.201.5.2:9000,10.201.5.3:9000"],
      ["c1m-both-clients-1", "10.201.5.2:9000,10.201.5.3:9000"],
      ["c1m-both-clients-0", "10.201.5.2:9000,10.201.5.3:9000"],
      ["c1m-both-clients-1", "10.201.5.2:9000,10.201.5.3:9000"],
    ],
    env: { ...ENV, C1M_CONNECTIONS: "19000" },
    widePortRange: true,
    natRules: null,
    verify: "--expect all --timeout-seconds 120 --stall-seconds 10 --soak-seconds 0",
    plan: {
      target: 76000,
      predicted: 76000,
      ceiling: 258048,
      bindingLimit: "target",
      serverWorkers: 4,
      serverListenGroups: 2,
      clientSources: ["10.201.5.11", "10.201.5.12"],
    },
  },
  "client-ips": {
    namespace: "c1m-clientips",
    hostInterface: "c1m-cips-h",
    serverInterface: "c1m-cips-s",
    hostAddress: "10.201.4.1/24",
    primaryAddress: "10.201.4.2/24",
    secondaryAddresses: [],
    hostSourceAddresses: ["10.201.4.11/24", "10.201.4.12/24", "10.201.4.13/24"],
    serverArgs:
      "--port 9000 --addresses 10.201.4.2 --workers 4 --metrics-port 9100 --metrics-address 10.201.4.2 --backlog 4096 --expect-connections 76000",
    fileMax: 218112,
    conntrack: 111616,
    ehash: { server: 131072, client: 32768 },
    networks: [
      { name: "c1m-client-ips-clients-0", subnet: "172.30.208.0/24", options: { "com.docker.network.host_ipv4": "10.201.4.11" } },
      { name: "c1m-client-ips-clients-1", subnet: "172.30.209.0/24", options: { "com.docker.network.host_ipv4": "10.201.4.12" } },
      { name: "c1m-client-ips-clients-2", subnet: "172.30.210.0/24", options: { "com.docker.network.host_ipv4": "10.201.4.13" } },
    ],
    containers: [
      ["c1m-client-ips-clients-0", "10.201.4.2:9000"],
      ["c1m-client-ips-clients-1", "10.201.4.2:9000"],
      ["c1m-client-ips-clients-2", "10.201.4.2:9000"],
      ["c1m-client-ips-clients-0", "10.201.4.2:9000"],
    ],
    env: { ...ENV, C1M_CONNECTIONS: "19000" },
    widePortRange: true,
    natRules: null,
    verify: "--expect all --timeout-seconds 120 --stall-seconds 10 --soak-seconds 0",
    plan: {
      target: 76000,
      predicted: 76000,
      ceiling: 193536,
      bindingLimit: "target",
      serverWorkers: 4,
      serverListenGroups: 1,
      clientSources: ["10.201.4.11", "10.201.4.12", "10.201.4.13"],
    },
  },
  "same-host": {
    namespace: "c1m-samehost",
    hostInterface: "c1m-same-h",
    serverInterface: "c1m-same-s",
    hostAddress: "10.201.3.1/24",
    primaryAddress: "10.201.3.2/24",
    secondaryAddresses: [],
    hostSourceAddresses: [],
    serverArgs:
      "--port 9000 --addresses 10.201.3.2 --workers 4 --metrics-port 9100 --metrics-address 10.201.3.2 --backlog 4096 --expect-connections 76000",
    fileMax: 218112,
    conntrack: 111616,
    ehash: { server: 131072, client: 32768 },
    // routed: no masquerade, the containers' own addresses reach the server.
    networks: [
      {
        name: "c1m-same-host-clients",
        subnet: "172.30.204.0/24",
        options: { "com.docker.network.bridge.enable_ip_masquerade": "false" },
      },
    ],
    containers: times(4, ["c1m-same-host-clients", "10.201.3.2:9000"]),
    env: { ...ENV, C1M_CONNECTIONS: "19000" },
    widePortRange: false,
    natRules: null,
    verify: "--expect all --timeout-seconds 120 --stall-seconds 10 --soak-seconds 0",
    plan: {
      target: 76000,
      predicted: 76000,
      ceiling: 112928, // 4 containers × 28,232 local ports (Docker's default range) to the one server IP
      bindingLimit: "target",
      serverWorkers: 4,
      serverListenGroups: 1,
      clientSources: ["172.30.204.2", "172.30.204.3", "172.30.204.4", "172.30.204.5"],
    },
  },
  million: {
    namespace: "c1m-million",
    hostInterface: "c1m-mil-h",
    serverInterface: "c1m-mil-s",
    hostAddress: "10.201.6.1/24",
    primaryAddress: "10.201.6.2/24",
    secondaryAddresses: MILLION_IPS.slice(1).map((a) => `${a}/24`),
    hostSourceAddresses: [],
    serverArgs: `--port 9000 --addresses ${MILLION_IPS.join(",")} --workers 54 --metrics-port 9100 --metrics-address 10.201.6.2 --backlog 4096 --expect-connections 1000012 --listen-groups 54`,
    fileMax: 2066432,
    conntrack: 1266688,
    ehash: { server: 1048576, client: 131072 },
    networks: [{ name: "c1m-million-clients", subnet: "172.30.206.0/24", options: {} }],
    containers: times(13, ["c1m-million-clients", MILLION_IPS.map((a) => `${a}:9000`).join(",")]),
    env: {
      ...ENV,
      C1M_CONNECTIONS: "76924",
      C1M_TARGET_ORDER: "blocks",
      C1M_CONNECT_RATE: "20000",
      C1M_MAX_IN_FLIGHT: "256",
      C1M_CONNECT_TIMEOUT_MS: "30000",
      C1M_PING_INTERVAL_SECONDS: "300",
    },
    widePortRange: true,
    natRules: null,
    verify: "--expect all --timeout-seconds 300 --stall-seconds 30 --soak-seconds 60",
    plan: {
      target: 1000012,
      predicted: 1000012,
      ceiling: 1266688,
      bindingLimit: "target",
      serverWorkers: 54,
      serverListenGroups: 54,
      clientSources: ["10.201.6.1"],
    },
  },
};

/** Every step script: strict bash, and the root-or-sudo helper defined before its first use. */
const PRELUDE = [
  "#!/usr/bin/env bash",
  "set -euo pipefail",
  'if [ "$(id -u)" -eq 0 ]; then as_root() { "$@"; }',
  'elif sudo -n true 2>/dev/null; then as_root() { sudo -n "$@"; }',
];
const lines = (text: unknown, pattern: RegExp) =>
  String(text)
    .split("\n")
    .filter((l) => pattern.test(l));

test("every shipped stack is covered", () => {
  assert.deepEqual([...localStacks].sort(), Object.keys(STACKS).sort());
});

for (const stack of localStacks) {
  test(`stack ${stack}: resource graph, scripts and containers`, async () => {
    const config = pulumiConfigJson(root, stack);
    const run = await runProgram(config, { stack });
    assert.equal(run.error, undefined, String(run.error));
    const e = STACKS[stack]!;
    const node = process.execPath;
    const state = `/run/c1m-lab/${stack}`;
    const { namespace: ns, hostInterface: h, serverInterface: s } = e;
    const gateway = e.hostAddress.split("/")[0]!;
    const primary = e.primaryAddress.split("/")[0]!;

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
      "connection-server-install_id",
    ]);
    assert.deepEqual(run.byName("connection-server-process").dependsOn, ["connection-server-install"]);

    // The four steps on the server side: local bash commands that bash parses.
    for (const [name, parent] of [
      ["server-host-namespace", "server-host"],
      ["secondary-ips-addresses", "secondary-ips"],
      ["tuning-sysctls", "tuning"],
      ["connection-server-install", "connection-server"],
      ["connection-server-process", "connection-server"],
      ["connection-test-install", "connection-test"],
    ] as const) {
      const r = run.byName(name);
      assert.equal(r.type, "command:local:Command");
      assert.equal(r.parent, parent);
      assert.equal(r.deleteBeforeReplace, true, `${name}: the old delete runs before the new create`);
      assert.deepEqual(r.inputs.interpreter, ["/bin/bash", "-c"]);
      for (const key of ["create", "delete"] as const) {
        assertBashSyntax(r.inputs[key], `${name} ${key}`);
        assertLinesInOrder(r.inputs[key], PRELUDE, `${name} ${key}`);
      }
    }

    // The host: namespace, veth pair, addresses (the client source addresses on the host side), route.
    const host = run.byName("server-host-namespace").inputs;
    assertLinesInOrder(
      host.create,
      [
        `as_root mkdir -p ${state}`,
        ...(e.ehash.server
          ? [
              `if ! [ -e /run/netns/${ns} ] && [ -e /proc/sys/net/ipv4/tcp_child_ehash_entries ]; then`,
              `  as_root sysctl -qw net.ipv4.tcp_child_ehash_entries=${e.ehash.server}`,
            ]
          : []),
        `if ! [ -e /run/netns/${ns} ]; then as_root ip netns add ${ns}; made_ns=1; fi`,
        `if ! ip link show ${h} >/dev/null 2>&1; then`,
        `  as_root ip link add ${h} type veth peer name ${s} netns ${ns}; made_link=1`,
        `  as_root ip link set dev ${h} alias c1m-lab:${stack}`,
        `  as_root ip -n ${ns} link set dev ${s} alias c1m-lab:${stack}`,
        `as_root ip addr replace ${e.hostAddress} dev ${h}`,
        ...e.hostSourceAddresses.map((a) => `as_root ip addr replace ${a} dev ${h}`),
        `as_root ip link set ${h} up`,
        `as_root ip -n ${ns} link set lo up`,
        `as_root ip -n ${ns} addr replace ${e.primaryAddress} dev ${s}`,
        `as_root ip -n ${ns} link set ${s} up`,
        `as_root ip -n ${ns} route replace default via ${gateway} dev ${s}`,
        ...(e.ehash.server ? ["ehash_back"] : []),
        `  [ -f ${state}/ip_forward.before ] || cat /proc/sys/net/ipv4/ip_forward | as_root tee ${state}/ip_forward.before >/dev/null`,
        "  as_root sysctl -qw net.ipv4.ip_forward=1",
        `printf '%s\\n' "\${C1M_HOST_INSTANCE:-unmanaged}" | as_root tee ${state}/instance >/dev/null`,
      ],
      "host create",
    );
    if (!e.ehash.server)
      assert.deepEqual(lines(host.create, /-qw net\.ipv4\.tcp_child_ehash_entries=\d/), [], "the host's table, shared");
    // The live host's token (read before the program builds the lab) goes to the create.
    assert.deepEqual(Object.keys(host.environment as object), ["C1M_HOST_INSTANCE"]);
    assert.deepEqual(
      lines(host.create, /ip (-n \S+ )?addr /),
      [
        `as_root ip addr replace ${e.hostAddress} dev ${h}`,
        ...e.hostSourceAddresses.map((a) => `as_root ip addr replace ${a} dev ${h}`),
        `as_root ip -n ${ns} addr replace ${e.primaryAddress} dev ${s}`,
      ],
      "no other address on the host or in the namespace",
    );
    // Destroy: what still runs in the namespace is killed, then the namespace (and the veth pair) goes.
    assertLinesInOrder(
      host.delete,
      [
        // Only when the namespace's link carries the lab's mark.
        `if [ -e /run/netns/${ns} ] && [ "$(as_root ip netns exec ${ns} cat /sys/class/net/${s}/ifalias 2>/dev/null || true)" = c1m-lab:${stack} ]; then`,
        `    pids=$(as_root ip netns pids ${ns})`,
        '    as_root kill $([ "$i" -gt 6 ] && echo -9) $pids 2>/dev/null || true',
        `  as_root ip netns del ${ns}`,
        "fi",
        `if ip link show ${h} >/dev/null 2>&1 && [ "$(cat /sys/class/net/${h}/ifalias 2>/dev/null || true)" = c1m-lab:${stack} ]; then as_root ip link del ${h} 2>/dev/null || ! ip link show ${h} >/dev/null 2>&1; fi`,
        `if [ -f ${state}/ip_forward.before ]; then as_root sysctl -qw "net.ipv4.ip_forward=$(cat ${state}/ip_forward.before)"; fi`,
        `as_root rm -rf ${state}`,
      ],
      "host delete",
    );

    // Secondary addresses in the namespace; destroy deletes exactly those.
    const addresses = run.byName("secondary-ips-addresses").inputs;
    assert.deepEqual(
      lines(addresses.create, /addr /),
      e.secondaryAddresses.map((a) => `as_root ip -n ${ns} addr replace ${a} dev ${s}`),
    );
    assertLinesInOrder(
      addresses.delete,
      [
        `[ -e /run/netns/${ns} ] || exit 0`,
        ...e.secondaryAddresses.map((a) => `as_root ip -n ${ns} addr del ${a} dev ${s} 2>/dev/null || true`),
      ],
      "addresses delete",
    );
    assert.equal(lines(addresses.delete, /addr /).length, e.secondaryAddresses.length);

    // Tuning: host-wide limits raised only when below the plan (recorded first), per-namespace keys set.
    const tuning = run.byName("tuning-sysctls").inputs;
    const raise = (key: string, value: number) =>
      `if [ ! -e /proc/sys/${key.replace(/\./g, "/")} ]; then echo 'c1m-lab: tuning: ${key} is not on this kernel: left' >&2; ` +
      `elif [ "$(cat /proc/sys/${key.replace(/\./g, "/")})" -lt ${value} ]; then remember ${key}; as_root sysctl -qw ${key}=${value}; mine ${key}; fi`;
    assertLinesInOrder(
      tuning.create,
      [
        `as_root mkdir -p ${state}/sysctl.before ${state}/sysctl.set`,
        // A failed create puts back what it changed itself (see netns-scripts' "a tuning create that fails").
        `trap 'rc=$?; [ "$rc" = 0 ] || undo' EXIT`,
        `remember() { [ -f ${state}/sysctl.before/"$1" ] && return 0; local v; v=$(cat "/proc/sys/$(echo "$1" | tr . /)") || return 1; printf '%s\\n' "$v" | as_root tee ${state}/sysctl.before/"$1" >/dev/null; fresh+=("$1"); }`,
        raise("fs.file-max", e.fileMax),
        raise("fs.nr_open", 20000),
        raise("net.netfilter.nf_conntrack_max", e.conntrack),
        raise("net.netfilter.nf_conntrack_buckets", e.conntrack),
        ...(e.ehash.client ? [raise("net.ipv4.tcp_child_ehash_entries", e.ehash.client)] : []),
        `as_root ip netns exec ${ns} sysctl -qw net.core.somaxconn=65535`,
        `as_root ip netns exec ${ns} sysctl -qw net.ipv4.tcp_max_syn_backlog=65535`,
        // The value has a space: one quoted word.
        `as_root ip netns exec ${ns} sysctl -qw 'net.ipv4.ip_local_port_range=1024 65535'`,
      ],
      "tuning create",
    );
    assert.equal(
      lines(tuning.create, /^[^ ].*sysctl -qw/).length,
      e.ehash.client ? 8 : 7,
      "nothing else is set (beside the undo's put-back)",
    );
    assertLinesInOrder(
      tuning.delete,
      [
        `[ -d ${state}/sysctl.before ] || exit 0`,
        `for f in ${state}/sysctl.before/*; do`,
        `  if [ -f ${state}/sysctl.set/"$key" ] && [ "$now" != "$(norm < ${state}/sysctl.set/"$key")" ]; then`,
        '    as_root sysctl -qw "$key=$(cat "$f")"',
        `  as_root rm -f "$f" ${state}/sysctl.set/"$key"`,
        "done",
        `as_root rm -rf ${state}/sysctl.set`,
        `as_root rmdir ${state}/sysctl.before`,
        `as_root rmdir ${state} 2>/dev/null || true`,
      ],
      "tuning delete",
    );

    // The server: a running one stopped first, then started detached in the namespace with the plan's flags.
    const server = run.byName("connection-server-process").inputs;
    assertLinesInOrder(
      server.create,
      [
        `as_root mkdir -p ${state}`,
        `if [ -f ${state}/server.pid ]; then`,
        '  as_root kill -TERM -- "-$p" 2>/dev/null || true',
        '  as_root kill -KILL -- "-$p" 2>/dev/null || true',
        `  as_root rm -f ${state}/server.pid`,
        "fi",
        `as_root setsid --fork bash -c 'echo $$ > "$1"; exec >"$2" 2>&1 </dev/null; shift 2; exec "$@"' c1m-server ${state}/server.pid ${state}/server.log ip netns exec ${ns} ${node} /var/lib/c1m-lab/${stack}/c1m-server.mjs ${e.serverArgs}`,
        "for _ in $(seq 1 300); do",
        `  if grep -q '"type":"listening"' ${state}/server.log 2>/dev/null; then cat ${state}/server.pid; exit 0; fi`,
        "done",
        "exit 1",
      ],
      "server start",
    );
    assertLinesInOrder(
      server.delete,
      [
        `if [ -f ${state}/server.pid ]; then`,
        `  p=$(cat ${state}/server.pid)`,
        '  as_root kill -TERM -- "-$p" 2>/dev/null || true',
        '  as_root kill -KILL -- "-$p" 2>/dev/null || true',
        "fi",
        `as_root rm -f ${state}/server.log`,
      ],
      "server stop",
    );
    assert.ok(!String(server.delete).includes("setsid"), "stop never starts one");

    // Server and test run from the stack's own directory, installed there from the staged bundles.
    for (const [step, file] of [
      ["connection-server-install", "c1m-server.mjs"],
      ["connection-test-install", "c1m-verify.mjs"],
    ] as const) {
      const install = run.byName(step).inputs;
      const from = shellValue(install.create, "from");
      const staged = new RegExp(`^${STAGE_DIR}/([0-9a-f]{64})/${file.replace(".", "\\.")}$`).exec(from);
      assert.ok(staged, `${step}: ${from} is a staged file named by its content`);
      assert.equal(createHash("sha256").update(readFileSync(from)).digest("hex"), staged[1], `${step}: its hash is its bytes'`);
      assertLinesInOrder(
        install.create,
        [
          `from=${from}; dir=/var/lib/c1m-lab/${stack}; file=${file}; want=${staged[1]}`,
          'as_root install -d -m 0755 -- "$dir"',
          'as_root install -m 0644 -- "$from" "$dir/.$file.new"',
          'got=$(as_root sha256sum -- "$dir/.$file.new" | cut -d" " -f1)',
          'as_root mv -f -- "$dir/.$file.new" "$dir/$file"',
        ],
        `${step} create`,
      );
      assertLinesInOrder(
        install.delete,
        [
          `dir=/var/lib/c1m-lab/${stack}; file=${file}`,
          'as_root rm -f -- "$dir/$file" "$dir/.$file.new"',
          'as_root rmdir -- "$dir" 2>/dev/null || true',
        ],
        `${step} delete`,
      );
    }

    // NAT pool rule only where the stack narrows the pool: ahead of Docker's (-I 1), checked first (-C), removed in full.
    const nat = run.resources.find((r) => r.name === "clients-nat-pool");
    if (e.natRules) {
      assert.ok(nat, "a NAT pool step");
      assert.equal(nat.parent, "clients");
      assert.deepEqual(
        nat.dependsOn,
        e.networks.map((n) => `clients-${n.name}`),
      );
      assertBashSyntax(nat.inputs.create, "nat create");
      assert.deepEqual(
        lines(nat.inputs.create, /iptables/),
        e.natRules.map(
          (rule) =>
            `as_root iptables -t nat -C POSTROUTING ${rule} 2>/dev/null || as_root iptables -t nat -I POSTROUTING 1 ${rule}`,
        ),
      );
      assert.deepEqual(
        lines(nat.inputs.delete, /iptables/),
        e.natRules.map((rule) => `while as_root iptables -t nat -D POSTROUTING ${rule} 2>/dev/null; do :; done`),
      );
    } else {
      // Registered with nothing to do, so that removing natPortRange later is a replace.
      assert.ok(nat, "an empty NAT pool step");
      assertBashSyntax(nat.inputs.create, "empty nat create");
      assertBashSyntax(nat.inputs.delete, "empty nat delete");
      assert.deepEqual(lines(nat.inputs.create, /iptables/), []);
      assert.deepEqual(lines(nat.inputs.delete, /iptables/), []);
    }

    // Image: host-node by default, a per-stack base from this machine's node, made before the image.
    const image = run.byName("clients-image");
    assert.equal(image.type, "docker:index/image:Image");
    assert.equal(image.inputs.imageName, `c1m-lab-client:${stack}`);
    assert.deepEqual((image.inputs.build as { args: unknown }).args, { BASE_IMAGE: `c1m-lab-node:${stack}`, STACK: stack });
    assert.deepEqual(image.dependsOn, ["clients-base-image"]);
    // Built from a staged context named by its content: the Dockerfile and the client bundle.
    const build = image.inputs.build as { context: string; dockerfile: string };
    assert.match(build.context, new RegExp(`^${STAGE_DIR}/[0-9a-f]{64}$`));
    assert.equal(build.dockerfile, `${build.context}/Dockerfile`);
    assert.deepEqual(readdirSync(build.context).sort(), ["Dockerfile", "c1m-client.mjs"]);
    const base = run.byName("clients-base-image").inputs;
    assertLinesInOrder(
      base.create,
      [`name=c1m-lab-node:${stack}; node=${node}`, 'docker image inspect "$name" >/dev/null 2>&1 && exit 0'],
      "base image",
    );
    assertLinesInOrder(base.delete, [`docker image rm c1m-lab-node:${stack} >/dev/null 2>&1 || true`], "base image delete");

    // Networks.
    const networks = run.resources.filter((r) => r.type === "docker:index/network:Network");
    assert.deepEqual(
      networks.map((n) => ({
        name: n.inputs.name,
        subnet: (n.inputs.ipamConfigs as { subnet: string }[])[0]?.subnet,
        options: n.inputs.options,
      })),
      e.networks,
    );
    assert.deepEqual(
      networks.map((n) => [n.name, n.parent]),
      e.networks.map((n) => [`clients-${n.name}`, "clients"]),
    );

    // Containers.
    const containers = run.resources.filter((r) => r.type === "docker:index/container:Container");
    const upstream = "connection-server-process_id,clients-nat-pool_id";
    assert.deepEqual(
      containers.map((c) => c.name),
      e.containers.map((_, i) => `clients-c1m-${stack}-client-${i}`),
    );
    for (const [i, c] of containers.entries()) {
      const [network, targets] = e.containers[i]!;
      const name = `c1m-${stack}-client-${i}`;
      assert.equal(c.parent, "clients");
      assert.deepEqual(c.dependsOn, ["clients-image-cleanup", "clients-nat-pool", "clients-sweep"]);
      // Its drain: replaced with it (its id is the trigger), so a replaced client is stopped first.
      const drain = run.byName(`clients-${name}-drain`);
      assert.deepEqual(drain.dependsOn, [c.name]);
      assert.deepEqual(upstreamTriggers(drain.inputs.triggers), [`${c.name}_id`]);
      assertBashSyntax(drain.inputs.delete, "drain");
      assertLinesInOrder(
        drain.inputs.delete,
        [
          `name=${name}`,
          `[ "$(docker inspect -f '{{index .Config.Labels "c1m-lab.stack"}}' "$name" 2>/dev/null || true)" = ${stack} ] || exit 0`,
          `  docker stop -t 180 "$name" >/dev/null 2>&1 || sleep 3`,
          `  for a in $ip; do conntrack -D -s "$a" >/dev/null 2>&1 || true; done`,
        ],
        "drain",
      );
      if (i === 0) {
        // The old image's removal must wait for the old containers: created before deleted.
        assert.equal(run.byName("clients-image-cleanup").deleteBeforeReplace, false);
      }
      assert.equal(c.inputs.name, name);
      assert.equal(c.inputs.image, "sha256:0123abcd", "containers run the image just built");
      assert.deepEqual(
        c.inputs.sysctls,
        e.widePortRange ? { "net.ipv4.ip_local_port_range": "1024 65535" } : {},
        "the container's port range widened unless the stack keeps Docker's default",
      );
      assert.deepEqual(c.inputs.networksAdvanced, [{ name: network }]);
      assert.deepEqual(c.inputs.ulimits, [{ name: "nofile", soft: 20_000, hard: 20_000 }]);
      const env = Object.fromEntries((c.inputs.envs as string[]).map((x) => x.split(/=(.*)/s).slice(0, 2)));
      const step = e.stepConnections ? { C1M_STEP_CONNECTIONS: e.stepConnections[i]! } : {};
      assert.deepEqual(env, { ...e.env, ...step, C1M_TARGETS: targets, C1M_CLIENT_NAME: name });
      const labels = Object.fromEntries((c.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));
      assert.deepEqual(
        labels,
        {
          "c1m-lab.stack": stack,
          "c1m-lab.managed": "true",
          "c1m-lab.role": "client",
          "c1m-lab.index": String(i),
          "c1m-lab.upstream": upstream,
        },
        "clients restart with the server and the NAT pool",
      );
      assert.equal(c.inputs.restart, "on-failure");
    }

    // The sweep: never replaced (a replace would remove running clients); removes at destroy the
    // clients no state knows, before the networks and the image go.
    const sweep = run.byName("clients-sweep");
    assert.deepEqual(sweep.ignoreChanges, ["create", "delete", "triggers"]);
    assert.deepEqual(sweep.dependsOn, ["clients-image-cleanup", ...e.networks.map((n) => `clients-${n.name}`)]);
    assertLinesInOrder(
      sweep.inputs.delete,
      [`ids=$(docker ps -aq --filter label=c1m-lab.stack=${stack} --filter label=c1m-lab.role=client)`],
      "sweep",
    );
    assert.deepEqual(
      run.byName("clients-stop").dependsOn,
      [...containers.map((c) => c.name), ...containers.map((c) => `${c.name}-drain`)],
      "the fleet-wide stop runs first on destroy",
    );

    // The connection test reruns when clients change and becomes the stack outputs.
    const verify = run.byName("connection-test-verify");
    assert.deepEqual(upstreamTriggers(verify.inputs.triggers), [
      "connection-server-process_id",
      containers.map((c) => `${c.name}_id`).join(","),
      "connection-test-install_id",
    ]);
    assert.deepEqual(verify.dependsOn, ["connection-test-install"]);
    // Run where the engine runs its steps (the project directory): reports/ is relative to it.
    assert.equal(verify.inputs.dir, undefined);
    // verify's report is passed on only when it reads as one (else the step fails).
    assertLinesInOrder(
      verify.inputs.create,
      [
        `${node} /var/lib/c1m-lab/${stack}/c1m-verify.mjs --metrics-url http://${primary}:9100 --clients-label c1m-lab.stack=${stack} ` +
          `--conntrack local ${e.verify} --stack ${stack} --reports-dir reports ${e.verifyAfter ?? ""}--dashboard 127.0.0.1:9180 --dashboard-linger-seconds 5 > "$report"`,
        'cat "$report"',
      ],
      "connection test",
    );
    const plan = JSON.parse((verify.inputs.environment as { C1M_PLAN: string }).C1M_PLAN) as Record<string, unknown>;
    assert.deepEqual(
      {
        target: plan.target,
        predicted: plan.predicted,
        ceiling: plan.ceiling,
        bindingLimit: plan.bindingLimit,
        serverWorkers: plan.serverWorkers,
        serverListenGroups: plan.serverListenGroups,
        clientSources: plan.clientSources,
      },
      e.plan,
    );
    assert.deepEqual(plan.serverAddresses, [primary, ...e.secondaryAddresses.map((a) => a.split("/")[0])]);
    assert.deepEqual(
      (plan.containers as { targets: string[] }[]).map((c) => c.targets.join(",")),
      e.containers.map(([, targets]) => targets),
    );
    assert.ok(!("liveWarnings" in plan), "the test's plan holds no live reading");
    assert.equal(run.outputs.verdict, "pass");
    assert.equal(run.outputs.total, 42);
    assert.equal(run.outputs.target, e.plan.target);
    assert.equal(run.outputs.predicted, e.plan.predicted);
    assert.deepEqual(run.outputs.serverAddresses, plan.serverAddresses);
    assert.equal(run.outputs.metricsUrl, `http://${primary}:9100`);
  });
}

test("clients.reconnect reaches every client container's environment", async () => {
  const config = pulumiConfigJson(root, "local");
  const clients = JSON.parse(config["c1m-lab:clients"] ?? "{}") as Record<string, unknown>;
  const reconnect = { baseMs: 100, capMs: 5000, jitter: "none" };
  const run = await runProgram({ ...config, "c1m-lab:clients": JSON.stringify({ ...clients, reconnect }) }, { stack: "local" });
  assert.equal(run.error, undefined, String(run.error));
  const envs = run.resources
    .filter((r) => r.type === "docker:index/container:Container")
    .map((c) => (c.inputs.envs as string[]).filter((x) => x.startsWith("C1M_RECONNECT_")));
  assert.deepEqual(envs, times(3, ["C1M_RECONNECT_BASE_MS=100", "C1M_RECONNECT_CAP_MS=5000", "C1M_RECONNECT_JITTER=none"]));
});

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
  // The SDK also util.inspect()s the error for its trace: with stack frames through node_modules
  // that took ~60 s on Node 20 (measured through the engine, bench/README.md); the message alone is instant.
  assert.equal((run.error as Error).stack, (run.error as Error).message, "no stack frames");
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
