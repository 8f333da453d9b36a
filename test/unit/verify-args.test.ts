// The command line: defaults, the plan from a file or C1M_PLAN, and messages naming the flag.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError } from "../../workload/cliArgs.js";
import { parseVerifyArgs } from "../../workload/verify/args.js";
import { loadFixture } from "./verify-fixtures.js";

const PLAN = JSON.stringify(loadFixture("nat-pool-1ip").plan);
const files: Record<string, string> = { "plan.json": PLAN, "bad.json": '{"target": 5}', "notjson.json": "{" };
const read = (f: string) => {
  const text = files[f];
  if (text === undefined) throw Object.assign(new Error("no such file"), { code: "ENOENT" });
  return text;
};
const parse = (argv: string[], env: Record<string, string> = {}) => parseVerifyArgs(argv, env, read);
const base = ["--plan", "plan.json", "--metrics-url", "http://10.201.0.2:9100"];

function rejects(argv: string[], pattern: RegExp, env: Record<string, string> = {}): void {
  assert.throws(
    () => parse(argv, env),
    (err: unknown) => err instanceof UsageError && pattern.test(err.message),
    `expected ${pattern}`,
  );
}

describe("verify args", () => {
  it("applies the defaults", () => {
    const r = parse(base);
    assert.ok(!r.help);
    const { plan, ...rest } = r.options;
    assert.equal(plan.predicted, 64_512);
    assert.deepEqual(rest, {
      dashboard: null,
      metricsUrl: "http://10.201.0.2:9100",
      metricsSsh: null,
      clientsLabel: null,
      conntrack: "local",
      expect: "all",
      timeoutSeconds: 120,
      stallSeconds: 10,
      soakSeconds: 0,
      intervalSeconds: 2,
      maxRttMs: null,
      stack: "local",
      reportsDir: "reports",
    });
  });

  it("takes every flag", () => {
    const r = parse([
      ...base,
      "--clients-label",
      "c1m-lab.stack=dev",
      "--conntrack",
      "none",
      "--expect",
      "plateau",
      "--timeout-seconds",
      "300",
      "--stall-seconds",
      "15",
      "--soak-seconds",
      "60",
      "--interval-seconds",
      "0.5",
      "--max-rtt-ms",
      "25",
      "--stack",
      "dev",
      "--reports-dir",
      "/tmp/r",
      "--dashboard",
      "9180",
      "--dashboard-linger-seconds",
      "2.5",
      "--metrics-ssh",
      "c1m@10.202.0.2:2222",
      "--metrics-ssh-host-key",
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aWStYc",
    ]);
    assert.ok(!r.help);
    const { plan, ...rest } = r.options;
    assert.equal(plan.target, 80_000);
    assert.deepEqual(rest, {
      dashboard: { host: "127.0.0.1", port: 9180, lingerSeconds: 2.5 },
      metricsUrl: "http://10.201.0.2:9100",
      metricsSsh: {
        user: "c1m",
        host: "10.202.0.2",
        port: 2222,
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aWStYc",
      },
      clientsLabel: "c1m-lab.stack=dev",
      conntrack: "none",
      expect: "plateau",
      timeoutSeconds: 300,
      stallSeconds: 15,
      soakSeconds: 60,
      intervalSeconds: 0.5,
      maxRttMs: 25,
      stack: "dev",
      reportsDir: "/tmp/r",
    });
  });

  it("reads the plan from C1M_PLAN when --plan is absent", () => {
    const r = parse(["--metrics-url", "http://127.0.0.1:9100"], { C1M_PLAN: PLAN });
    assert.ok(!r.help && r.options.plan.target === 80_000);
  });

  it("takes the dashboard's address as [HOST:]PORT, on loopback unless told", () => {
    const at = (flag: string) => {
      const r = parse([...base, "--dashboard", flag]);
      return r.help ? null : r.options.dashboard;
    };
    assert.deepEqual(at("0"), { host: "127.0.0.1", port: 0, lingerSeconds: 5 });
    assert.deepEqual(at("0.0.0.0:8080"), { host: "0.0.0.0", port: 8080, lingerSeconds: 5 });
    assert.deepEqual(at("[::1]:8080"), { host: "::1", port: 8080, lingerSeconds: 5 });
    rejects(
      [...base, "--dashboard", "70000"],
      /^--dashboard: expected \[HOST:\]PORT like 9180 or 127\.0\.0\.1:9180, got "70000"$/,
    );
    rejects([...base, "--dashboard", "me:80"], /^--dashboard: expected \[HOST:\]PORT/);
    rejects([...base, "--max-rtt-ms", "0"], /^--max-rtt-ms/);
    rejects([...base, "--dashboard-linger-seconds", "3"], /^--dashboard-linger-seconds: only with --dashboard$/);
  });

  it("takes the metrics' ssh tunnel as USER@HOST[:PORT] with its pinned host key, both or neither", () => {
    const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aWStYc";
    const r = parse([...base, "--metrics-ssh", "ubuntu@db1.example", "--metrics-ssh-host-key", KEY]);
    assert.deepEqual(!r.help && r.options.metricsSsh, { user: "ubuntu", host: "db1.example", port: 22, hostKey: KEY });
    rejects(
      [...base, "--metrics-ssh", "ubuntu@db1.example"],
      /^--metrics-ssh-host-key: required with --metrics-ssh \(the host's public key, 'ssh-ed25519 AAAA\.\.\.'\)$/,
    );
    rejects([...base, "--metrics-ssh-host-key", KEY], /^--metrics-ssh-host-key: only with --metrics-ssh$/);
    for (const bad of ["db1.example", "-oProxyCommand=id@h", "u@-oProxyCommand=id", "u@h:0", "u@h:70000", "u@h;id"]) {
      rejects(
        // `=`: a value starting with a dash reaches the check (parseArgs refuses `--metrics-ssh -o...` itself).
        [...base, `--metrics-ssh=${bad}`, "--metrics-ssh-host-key", KEY],
        new RegExp(
          `^--metrics-ssh: expected USER@HOST\\[:PORT\\] like c1m@10\\.202\\.0\\.2 or ubuntu@10\\.0\\.0\\.5:2222, got "`,
        ),
      );
    }
    rejects(
      [...base, "--metrics-ssh", "u@h", "--metrics-ssh-host-key", `${KEY} root@vm`],
      /^--metrics-ssh-host-key: expected a public key like 'ssh-ed25519 AAAA\.\.\.' \(type and key, no comment\), got "ssh-ed25519 AAAA.* root@vm"$/,
    );
  });

  it("answers --help", () => {
    assert.deepEqual(parse(["--help"]), { help: true });
  });

  it("names the flag and what is valid", () => {
    rejects(["--metrics-url", "http://x:1"], /^--plan: required .*C1M_PLAN/);
    rejects(["--plan", "missing.json", "--metrics-url", "http://x:1"], /^--plan: cannot read missing\.json \(ENOENT\)/);
    rejects(["--plan", "notjson.json", "--metrics-url", "http://x:1"], /^--plan notjson\.json: not JSON/);
    rejects(["--plan", "bad.json", "--metrics-url", "http://x:1"], /^--plan bad\.json: not a CapacityPlan:[\s\S]*predicted/);
    rejects(["--metrics-url", "http://x:1"], /^C1M_PLAN: not JSON/, { C1M_PLAN: "nope" });
    rejects(["--plan", "plan.json"], /^--metrics-url: required/);
    rejects(["--plan", "plan.json", "--metrics-url", "ftp://x"], /^--metrics-url: expected an http/);
    rejects(["--plan", "plan.json", "--metrics-url", "10.201.0.2:9100x"], /^--metrics-url: expected/);
    rejects([...base, "--expect", "most"], /^--expect: expected one of all, plateau, got "most"$/);
    rejects([...base, "--conntrack", "remote"], /^--conntrack: expected one of local, none, got "remote"$/);
    rejects([...base, "--timeout-seconds", "soon"], /^--timeout-seconds: expected a number, got "soon"$/);
    rejects([...base, "--stall-seconds", "0"], /^--stall-seconds: 0 is below 0\.1$/);
    rejects([...base, "--interval-seconds=-1"], /^--interval-seconds: -1 is below 0\.05$/);
    rejects([...base, "--interval-seconds", "-1"], /^Option '--interval-seconds' argument is ambiguous/);
    rejects([...base, "--soak-seconds=-5"], /^--soak-seconds: -5 is below 0$/);
    rejects([...base, "--stack", "../etc"], /^--stack: expected a stack name/);
    rejects([...base, "--clients-label", "a b"], /^--clients-label: expected a docker label/);
    rejects([...base, "--bogus"], /Unknown option '--bogus'; valid options: --plan, --metrics-url/);
    rejects([...base, "extra"], /Unexpected argument 'extra'/);
  });
});
