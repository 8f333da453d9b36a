import { spawn } from "node:child_process";

export interface BoundedRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last `tailChars` of stderr (stdout is discarded). */
  stderr: string;
  /** Why it could not be started (ENOENT, ...), or null. */
  spawnError: NodeJS.ErrnoException | null;
}

/**
 * Runs a program without a shell, stdout discarded, killed after `timeoutMs`. Not spawn's own
 * `timeout` option: when the program cannot be started (ENOENT), Node never clears that timer
 * and the caller's process stays alive for the whole timeout.
 */
export function boundedRun(
  file: string,
  args: string[],
  opts: { timeoutMs: number; tailChars: number; env?: NodeJS.ProcessEnv },
): Promise<BoundedRun> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ["ignore", "ignore", "pipe"] });
    const timer = setTimeout(() => child.kill("SIGTERM"), opts.timeoutMs);
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-opts.tailChars)));
    child.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stderr, spawnError: err });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, spawnError: null });
    });
  });
}
