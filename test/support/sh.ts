// Running scripts and commands for real in integration tests.
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a builder's script with bash, the way the Command provider does (interpreter /bin/bash -c). */
export function runScript(script: string, options: { timeoutMs?: number; user?: string } = {}): Ran {
  const argv = options.user
    ? ["setpriv", "--reuid", options.user, "--regid", "65534", "--clear-groups", "/bin/bash", "-c", script]
    : ["/bin/bash", "-c", script];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: options.timeoutMs ?? 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Runs a command line and returns stdout; throws with stderr on failure. */
export function sh(command: string): string {
  const r = runScript(command);
  if (r.code !== 0) throw new Error(`${command}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Integration tests need root (namespaces, iptables). In CI they must run; elsewhere they skip. */
export function needsRoot(t: TestContext): boolean {
  if (process.getuid?.() === 0) return true;
  if (process.env.CI) throw new Error("integration tests need root in CI");
  t.skip("needs root");
  return false;
}

export function dockerAvailable(): boolean {
  return runScript("docker info >/dev/null 2>&1").code === 0;
}
