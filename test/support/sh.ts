// Running scripts and commands for real in integration tests.
import { spawnSync } from "node:child_process";
import { dirname } from "node:path";
import type { TestContext } from "node:test";

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a builder's script with bash, the way the Command provider does (interpreter /bin/bash -c). */
export function runScript(
  script: string,
  options: { timeoutMs?: number; user?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Ran {
  const argv = options.user
    ? ["setpriv", "--reuid", options.user, "--regid", "65534", "--clear-groups", "/bin/bash", "-c", script]
    : ["/bin/bash", "-c", script];
  const r = spawnSync(argv[0]!, argv.slice(1), {
    encoding: "utf8",
    timeout: options.timeoutMs ?? 60_000,
    env: options.env ? { ...process.env, ...options.env } : process.env,
    cwd: options.cwd,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Runs a command line and returns stdout; throws with stderr on failure. */
export function sh(command: string): string {
  const r = runScript(command);
  if (r.code !== 0) throw new Error(`${command}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/**
 * What a test needs and this machine lacks fails the test with what to install: a missing tool is
 * never a silent skip (.ci/run installs all of them).
 */
export function need(present: boolean, what: string): void {
  if (!present) throw new Error(`this test needs ${what}`);
}

/** Integration tests need root (namespaces, iptables). */
export function needsRoot(_t?: TestContext): boolean {
  need(process.getuid?.() === 0, "root (network namespaces, iptables): run the tests as root");
  return true;
}

/** bash parses the script (bash -n): no syntax error from quoting gone wrong. */
export function assertBashSyntax(text: unknown, what: string): void {
  const r = spawnSync("bash", ["-n"], { input: String(text), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${what}: bash -n: ${r.stderr}`);
}

export function dockerAvailable(): boolean {
  return runScript("docker info >/dev/null 2>&1").code === 0;
}

/** The Docker engine answers (apt-get install docker.io, then start dockerd: .ci/run does both). */
export function needsDocker(): void {
  need(dockerAvailable(), "a running Docker engine: apt-get install -y docker.io, then start dockerd (.ci/run does both)");
}

/**
 * Runs a command line the way remote.Command runs it on a VM: `sh -c` in the ssh user's home (a
 * temp HOME here), this machine's node first on PATH; bounded by `timeoutSeconds` plus a margin.
 */
export function runInHome(home: string, commandLine: string, timeoutSeconds: number): Ran {
  const r = spawnSync("sh", ["-c", commandLine], {
    cwd: home,
    encoding: "utf8",
    timeout: (timeoutSeconds + 15) * 1000,
    env: { ...process.env, HOME: home, PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin` },
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** stdout of a run that must succeed (its stderr in the failure message). */
export function okOut(r: Ran, what: string): string {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}
