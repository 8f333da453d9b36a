// Runs the real `netplan generate --root-dir` on a candidate set of netplan files (the host's
// existing ones plus our drop-in) in a throwaway root, and returns what it would write for
// systemd-networkd. Nothing outside the temp directory is touched.
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DROP_IN_NAME, NetplanError } from "./render.js";

export interface NetplanFile {
  /** File name inside /etc/netplan, e.g. 50-cloud-init.yaml. */
  name: string;
  text: string;
}

export interface NetplanValidation {
  /** netplan generate exited 0. */
  ok: boolean;
  stderr: string;
  /** run/systemd/network/* that netplan generated (10-netplan-<id>.network, .link, ...), name → text. */
  networkdFiles: Record<string, string>;
}

export interface ValidateOptions {
  existing: NetplanFile[];
  dropIn: string;
  /** Default 60-c1m-lab.yaml. */
  dropInName?: string;
  /** Default "netplan" from PATH. */
  netplanBinary?: string;
  /** Default 30 s. */
  timeoutMs?: number;
}

const FILE_NAME = /^[A-Za-z0-9_.@-]+\.yaml$/;

export async function validateWithNetplan(opts: ValidateOptions): Promise<NetplanValidation> {
  const dropInName = opts.dropInName ?? DROP_IN_NAME;
  for (const [i, name] of [...opts.existing.map((f) => f.name), dropInName].entries()) {
    if (!FILE_NAME.test(name) || name === "." || name === "..") {
      const arg = i < opts.existing.length ? `existing[${i}].name` : "dropInName";
      throw new NetplanError(
        `validateWithNetplan: ${arg} ${JSON.stringify(name)} is not valid: use a file name like 50-cloud-init.yaml (no directories)`,
      );
    }
  }
  const dir = await mkdtemp(join(tmpdir(), "c1m-netplan-"));
  try {
    const etc = join(dir, "etc", "netplan");
    await mkdir(etc, { recursive: true });
    for (const f of [...opts.existing, { name: dropInName, text: opts.dropIn }]) {
      const path = join(etc, f.name);
      await writeFile(path, f.text, { mode: 0o600 });
      await chmod(path, 0o600);
    }
    const { code, stderr } = await run(
      opts.netplanBinary ?? "netplan",
      ["generate", "--root-dir", dir],
      opts.timeoutMs ?? 30_000,
    );
    const networkdFiles: Record<string, string> = {};
    const out = join(dir, "run", "systemd", "network");
    const names = await readdir(out).catch(() => [] as string[]);
    for (const name of names.sort()) networkdFiles[name] = await readFile(join(out, name), "utf8");
    return { ok: code === 0, stderr, networkdFiles };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(file: string, args: string[], timeoutMs: number): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: "SIGKILL" }, (err, _stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
        reject(new NetplanError(`validateWithNetplan: ${file} was not found; install netplan.io (it provides netplan generate)`));
        return;
      }
      if (err && err.killed) {
        reject(new NetplanError(`validateWithNetplan: ${file} generate did not finish within ${timeoutMs} ms`));
        return;
      }
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stderr: String(stderr) });
    });
  });
}
