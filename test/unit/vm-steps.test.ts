// The VM lab as data (infra/server/vm/steps.ts) and the glue scripts as text (scripts/ssh.ts,
// scripts/workload.ts, multipass/scripts.ts). Pure: no Pulumi, no network. The server bundle has
// its own test (integration/server-bundle.test.ts).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { assertBashSyntax } from "../support/sh.js";
import { parse } from "yaml";
import { ARTICLE_FACTS, planCapacity, REFERENCE_FACTS } from "../../infra/plan/capacity.js";
import { parseLabConfig, type LabConfigInput } from "../../infra/config/schema.js";
import { ScriptInputError } from "../../infra/shell.js";
import type { LabPaths } from "../../infra/plan/paths.js";
import { installWorkloadScript } from "../../infra/server/vm/scripts/workload.js";
import { remoteCommand, remoteSequence, stagingCreateScript, stagingDeleteScript } from "../../infra/server/vm/scripts/ssh.js";
import {
  natHostTuning,
  netplanDropIn,
  vmLabSteps,
  VmStepsError,
  vmRaisedLimits,
  vmSysctls,
} from "../../infra/server/vm/steps.js";
import { remoteSteps } from "../support/mockProgram.js";

const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC1mTestKeyForUnitTestsOnly000000000000000000 c1m-test";
const BUNDLE = { path: `/stage/${"a".repeat(64)}/c1m-server.mjs`, sha256: "a".repeat(64) };
const paths: LabPaths = {
  node: "/usr/bin/node",
  stateDir: "/run/c1m-lab/t",
  installDir: "/var/lib/c1m-lab/t",
  staged: {
    server: BUNDLE,
    verify: { path: `/stage/${"b".repeat(64)}/c1m-verify.mjs`, sha256: "b".repeat(64) },
    clientImage: {
      context: `/stage/${"c".repeat(64)}`,
      dockerfile: `/stage/${"c".repeat(64)}/Dockerfile`,
      sha256: "c".repeat(64),
    },
  },
  reportsDir: "reports",
};
const b64 = (s: string) => Buffer.from(s).toString("base64");
const probeOutput = (files: [string, string][], links: [string, string][]) =>
  JSON.stringify({
    files: files.map(([p, t]) => ({ pathBase64: b64(p), textBase64: b64(t) })),
    links: links.map(([n, m]) => ({ nameBase64: b64(n), mac: m })),
  });
const MULTIPASS_NETPLAN =
  "network:\n  version: 2\n  ethernets:\n    default:\n      match:\n        macaddress: 52:54:00:ab:cd:ef\n      dhcp4: true\n";

function lab(server: Record<string, unknown>, rest: Partial<LabConfigInput> = {}) {
  const config = parseLabConfig({ server, ...rest } as Record<string, unknown>);
  return { config, plan: planCapacity(config, ARTICLE_FACTS) };
}
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aWStYc";
const SSH = {
  provider: "ssh",
  host: "db1.example",
  user: "ops",
  hostKey: HOST_KEY,
  interface: "eth0",
  primaryAddress: "10.0.0.5/24",
  secondaryAddresses: ["10.0.0.6/24"],
};
const MULTIPASS = { provider: "multipass", primaryAddress: "10.95.44.201/24", secondaryAddresses: { count: 2 } };

describe("vmLabSteps", () => {
  test("ssh: the primary is the host's own address, no target; only secondaries go in the drop-in; metrics on loopback", () => {
    const { config, plan } = lab({ ...SSH, secondaryAddresses: ["10.0.0.6/24", "10.0.0.7/24"], sshPort: 2222 });
    const s = vmLabSteps(config, plan, "ssh", paths, {});
    assert.equal(s.provider, "ssh");
    assert.deepEqual(s.ssh, {
      host: "db1.example",
      port: 2222,
      user: "ops",
      hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aWStYc",
      keyEnv: "C1M_SSH_PRIVATE_KEY",
      waitTimeoutSeconds: 600,
    });
    assert.deepEqual(s.addresses, {
      iface: "eth0",
      addresses: ["10.0.0.6/24", "10.0.0.7/24"],
      stagedPath: ".c1m-lab/ssh/60-c1m-lab.yaml",
    });
    assert.equal(s.primaryAddress, "10.0.0.5");
    assert.equal(s.metricsUrl, "http://127.0.0.1:9100", "the URL on the host: the test reaches it through ssh");
    assert.equal(s.multipass, undefined);
    assert.deepEqual(s.server.workload, {
      stagedPath: ".c1m-lab/ssh/c1m-server.mjs",
      sha256: BUNDLE.sha256,
      workdir: "/opt/c1m-lab",
    });
    assert.equal(s.server.unit.nodePath, "/opt/c1m-lab/bin/node");
    // A VM's server unit: 1,048,576 fds unless the plan needs more.
    assert.equal(s.server.unit.limitNofile, 1_048_576);
    assert.equal(s.server.unit.metricsHost, "127.0.0.1");
    assert.deepEqual(s.server.unit.serverArgs, [
      "--port",
      "9000",
      "--addresses",
      "10.0.0.6,10.0.0.7",
      "--workers",
      "1",
      "--metrics-port",
      "9100",
      "--metrics-address",
      "127.0.0.1",
      "--backlog",
      "4096",
      "--expect-connections",
      "15000",
    ]);
    assert.deepEqual(s.verifyArgs.slice(0, 2), ["--metrics-url", "http://127.0.0.1:9100"]);
    assert.ok(s.verifyArgs.includes("--conntrack") && s.verifyArgs[s.verifyArgs.indexOf("--conntrack") + 1] === "local");
    // test.dashboard's defaults: the live page on loopback, 5 s after the verdict.
    assert.deepEqual(s.verifyArgs.slice(-4), ["--dashboard", "127.0.0.1:9180", "--dashboard-linger-seconds", "5"]);
  });

  test("ssh with targetPrimary: the host's own address is a target the server listens on, never in the drop-in", () => {
    const { config, plan } = lab({ ...SSH, targetPrimary: true });
    const s = vmLabSteps(config, plan, "ssh", paths, {});
    assert.deepEqual(s.addresses.addresses, ["10.0.0.6/24"]);
    assert.deepEqual(s.server.unit.serverArgs.slice(2, 4), ["--addresses", "10.0.0.5,10.0.0.6"]);
    const alone = lab({ ...SSH, targetPrimary: true, secondaryAddresses: [] });
    const a = vmLabSteps(alone.config, alone.plan, "ssh", paths, {});
    assert.equal(a.ssh.hostKey, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aWStYc");
    assert.deepEqual(a.addresses.addresses, [], "no drop-in addresses");
    assert.deepEqual(a.server.unit.serverArgs.slice(2, 4), ["--addresses", "10.0.0.5"]);
  });

  test("metricsAddress 0.0.0.0: the server binds it; the health check and the test's tunnel go to loopback", () => {
    const { config, plan } = lab({ ...SSH, metricsAddress: "0.0.0.0" });
    const s = vmLabSteps(config, plan, "ssh", paths, {});
    const args = s.server.unit.serverArgs;
    assert.equal(args[args.indexOf("--metrics-address") + 1], "0.0.0.0");
    assert.equal(s.server.unit.metricsHost, "127.0.0.1");
    assert.equal(s.metricsUrl, "http://127.0.0.1:9100");
    const primary = lab({ ...SSH, metricsAddress: "10.0.0.5", metricsPort: 9200 });
    const p = vmLabSteps(primary.config, primary.plan, "ssh", paths, {});
    assert.equal(p.server.unit.metricsHost, "10.0.0.5");
    assert.equal(p.metricsUrl, "http://10.0.0.5:9200");
  });

  test("qemu: the seed's primary is a target; the drop-in adds the rest", () => {
    const { config, plan } = lab({ provider: "qemu", image: "/i.qcow2", secondaryAddresses: { count: 2 } });
    const s = vmLabSteps(config, plan, "q", paths, { sshPublicKey: PUBLIC_KEY, home: "/root" });
    assert.deepEqual(s.addresses.addresses, ["10.202.0.3/24", "10.202.0.4/24"]);
    assert.deepEqual(s.server.unit.serverArgs.slice(2, 4), ["--addresses", "10.202.0.2,10.202.0.3,10.202.0.4"]);
    assert.equal(s.ssh.hostKey, undefined, "made with the VM, not configured");
    assert.equal(s.metricsUrl, "http://127.0.0.1:9100");
  });

  test("multipass: primary and secondaries are all lab addresses; cloud-init has the key and Node 20 from the snap store", () => {
    const { config, plan } = lab(MULTIPASS);
    const s = vmLabSteps(config, plan, "mp", paths, { sshPublicKey: `${PUBLIC_KEY}\n` });
    assert.deepEqual(s.addresses.addresses, ["10.95.44.201/24", "10.95.44.202/24", "10.95.44.203/24"]);
    assert.equal(s.ssh.host, undefined, "known once the VM has an address");
    assert.equal(s.ssh.user, "ubuntu");
    const mp = s.multipass!;
    const { cloudInit, ...launch } = mp.launch;
    assert.deepEqual(launch, {
      instance: "c1m-server",
      release: "24.04",
      cpus: 2,
      memory: "4G",
      disk: "20G",
      recordPath: "/var/lib/c1m-lab/t/multipass-instance",
      timeoutSeconds: 900,
    });
    const ci = parse(cloudInit) as Record<string, unknown>;
    assert.ok(cloudInit.startsWith("#cloud-config\n"));
    assert.deepEqual(ci.ssh_authorized_keys, [PUBLIC_KEY]);
    assert.deepEqual(ci.runcmd, [
      ["snap", "wait", "system", "seed.loaded"],
      ["snap", "install", "node", "--classic", "--channel=20"],
    ]);
    assert.equal(ci.packages, undefined, "not Ubuntu's nodejs package (too old)");
  });

  test("multipass without the public key, routed clients, or an odd stack name: a clear error", () => {
    const { config, plan } = lab(MULTIPASS);
    assert.throws(() => vmLabSteps(config, plan, "mp", paths, {}), /needs the public key \(server\.sshPublicKeyPath\)/);
    const routed = lab(SSH, { clients: { sourceIps: { strategy: "routed" } } });
    assert.throws(
      () => vmLabSteps(routed.config, routed.plan, "x", paths, {}),
      (e: Error) => e instanceof VmStepsError && /routed needs a route on the server back to the Docker network/.test(e.message),
    );
    assert.throws(() => vmLabSteps(config, plan, "../x", paths, { sshPublicKey: PUBLIC_KEY }), /cannot name a staging directory/);
  });

  test("natPortRange on a VM: one MASQUERADE --to-ports rule per lab address /32", () => {
    const { config, plan } = lab(
      { ...SSH, secondaryAddresses: ["10.0.0.6/24"] },
      { clients: { natPortRange: "40000-40999", containers: 2, connectionsPerContainer: 500 } },
    );
    const s = vmLabSteps(config, plan, "n", paths, {});
    assert.deepEqual(
      s.natPool.map((r) => [r.source, r.destination, r.from, r.to, r.toSource]),
      [["172.30.201.0/24", "10.0.0.6/32", 40000, 40999, undefined]],
      "the host's own address is no lab address",
    );
  });

  test("sysctls: accept queues and the stack's own values exactly; the plan's limits raise-only; raiseHostLimits off keeps them out", () => {
    const { config, plan } = lab(SSH, {
      tuning: { sysctls: { "net.core.somaxconn": 4096, "vm.max_map_count": 262144, "fs.nr_open": 2_000_000 } },
    });
    assert.deepEqual(vmSysctls(config), {
      "net.core.somaxconn": 4096,
      "net.ipv4.tcp_max_syn_backlog": 65535,
      "vm.max_map_count": 262144,
      "fs.nr_open": 2_000_000,
    });
    // The default 3 × 5,000 connections: file-max 2 × 15,000 + 65,536, conntrack 1.25 × 15,000 + 16,384, rounded up to 1,024.
    assert.deepEqual(
      vmRaisedLimits(config, plan),
      {
        "fs.file-max": 96256,
        "net.netfilter.nf_conntrack_max": 35840,
      },
      "a stack's own value is set exactly, not raised",
    );
    const off = lab(SSH, { tuning: { raiseHostLimits: false } });
    assert.deepEqual(vmSysctls(off.config), { "net.core.somaxconn": 65535, "net.ipv4.tcp_max_syn_backlog": 65535 });
    assert.deepEqual(vmRaisedLimits(off.config, off.plan), {});
  });

  test("the NAT host (this machine): conntrack raised only, an override set exactly, nothing when off", () => {
    const { config, plan } = lab(SSH);
    assert.deepEqual(natHostTuning(config, plan, "/run/x"), {
      stateDir: "/run/x",
      raise: {
        "net.netfilter.nf_conntrack_max": 35840,
        "net.netfilter.nf_conntrack_buckets": 35840,
      },
      set: {},
      namespaceSysctls: {},
    });
    const o = lab(SSH, { tuning: { sysctls: { "net.netfilter.nf_conntrack_max": 524288, "net.core.somaxconn": 1024 } } });
    assert.deepEqual(natHostTuning(o.config, o.plan, "/run/x")?.set, { "net.netfilter.nf_conntrack_max": "524288" });
    assert.deepEqual(Object.keys(natHostTuning(o.config, o.plan, "/run/x")!.raise), ["net.netfilter.nf_conntrack_buckets"]);
    const off = lab(SSH, { tuning: { raiseHostLimits: false } });
    assert.equal(natHostTuning(off.config, off.plan, "/run/x"), null);
  });

  test("netplanDropIn: the ID that configures the interface (by MAC); a missing interface or a DHCP address clash is refused", () => {
    const a = { iface: "ens3", addresses: ["10.95.44.201/24", "10.95.44.202/24"], stagedPath: "x" };
    const probe = `noise\n${probeOutput(
      [["/etc/netplan/50-cloud-init.yaml", MULTIPASS_NETPLAN]],
      [
        ["lo", "00:00:00:00:00:00"],
        ["ens3", "52:54:00:ab:cd:ef"],
      ],
    )}\n`;
    const d = netplanDropIn(a, probe, "10.95.44.7");
    assert.equal(d.netplanId, "default");
    assert.deepEqual((parse(d.text) as { network: { ethernets: unknown } }).network.ethernets, {
      default: { addresses: ["10.95.44.201/24", "10.95.44.202/24"] },
    });
    assert.throws(
      () => netplanDropIn({ ...a, iface: "ens9" }, probe),
      /interface ens9 does not exist on the host \(it has: lo, ens3\)/,
    );
    assert.throws(
      () => netplanDropIn(a, probe, "10.95.44.202"),
      /10\.95\.44\.202 is the VM's own DHCP \(management\) address and also a lab address/,
    );
    assert.throws(() => netplanDropIn(a, "ssh: connect failed"), /netplan probe printed no result/);
  });
});

describe("vmScripts", () => {
  const syntax = (text: string) => assertBashSyntax(text, "script");

  test("remoteCommand: bash -c under timeout, whatever the login shell; the script arrives byte for byte", () => {
    const text = `#!/usr/bin/env bash\nprintf '%s|' "it's" '$HOME' "\\\\" "$0"\n`;
    const line = remoteCommand(text, 5);
    assert.match(line, /^timeout --kill-after=10 5 bash -c '/);
    const out = execFileSync("sh", ["-c", line], { encoding: "utf8" });
    assert.equal(out, `it's|$HOME|\\|bash|`);
    assert.deepEqual(remoteSteps(line), [{ timeoutSeconds: 5, body: text }], "quoted and unquoted: the same text");
    const sequence = remoteSequence(["printf one", 5], ["printf two", 7]);
    assert.equal(sequence, "timeout --kill-after=10 5 bash -c 'printf one' && timeout --kill-after=10 7 bash -c 'printf two'");
    assert.equal(execFileSync("sh", ["-c", sequence], { encoding: "utf8" }), "onetwo", "in order");
    const stopped = spawnSync("sh", ["-c", remoteSequence(["exit 3", 5], ["printf two", 7])], { encoding: "utf8" });
    assert.deepEqual([stopped.status, stopped.stdout], [3, ""], "a failed step stops the sequence");
    assert.throws(() => remoteCommand("true", 0), /timeoutSeconds 0 is not valid/);
  });

  test("staging: a directory relative to the home, checked; create prints its absolute path", () => {
    syntax(stagingCreateScript(".c1m-lab/s"));
    syntax(stagingDeleteScript(".c1m-lab/s"));
    assert.match(stagingDeleteScript(".c1m-lab/s"), /rmdir -- \.c1m-lab 2>\/dev\/null \|\| true/);
    for (const bad of ["/etc", "../x", ".c1m-lab/../..", "a b", "", "x;rm"]) {
      assert.throws(
        () => stagingCreateScript(bad),
        (e: Error) => e instanceof ScriptInputError && /stagingDir .* is not valid/.test(e.message),
        bad,
      );
    }
  });

  test("installWorkloadScript: checks the sha256, finds Node ≥ 20, replaces the workdir as a whole; inputs are checked", () => {
    const text = installWorkloadScript({
      stagedPath: ".c1m-lab/s/c1m-server.mjs",
      sha256: BUNDLE.sha256,
      workdir: "/opt/c1m-lab",
    });
    syntax(text);
    assert.ok(!text.includes("tar "), "one file: nothing to unpack");
    for (const part of [
      "sha256sum",
      "/snap/bin/node",
      "staged=.c1m-lab/s/c1m-server.mjs",
      'mv -- "$new" "$workdir"',
      "bin/node",
    ]) {
      assert.ok(text.includes(part), part);
    }
    assert.throws(
      () => installWorkloadScript({ stagedPath: "x", sha256: "abc", workdir: "/opt/c1m-lab" }),
      /sha256 "abc" is not valid/,
    );
    for (const workdir of ["/opt", "/opt/lab", "opt/c1m", "/opt/../c1m", "/opt/c1m lab"]) {
      assert.throws(
        () => installWorkloadScript({ stagedPath: "x", sha256: BUNDLE.sha256, workdir }),
        /workdir .* is not valid/,
        workdir,
      );
    }
  });
});

test("REFERENCE_FACTS: the multipass stack's 25,000 per container are 2 client processes each (Docker caps a process at 20,000 fds here)", () => {
  const config = parseLabConfig({ server: MULTIPASS, clients: { containers: 3, connectionsPerContainer: 25_000 } } as Record<
    string,
    unknown
  >);
  assert.deepEqual(
    planCapacity(config, REFERENCE_FACTS).containers.map((c) => c.processes),
    [2, 2, 2],
  );
});
