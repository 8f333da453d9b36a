// The server bundle a VM gets (infra/server/vm/bundle.ts): its size, how long esbuild takes, and
// an idle worker's memory from the bundle against the tsc output (dist/workload/server.js).
// `npm run bench:bundle`. Loopback only; each server is stopped, the run is bounded (60 s).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeServerBundle } from "../infra/install/bundle.js";
import { rssKiB } from "./proc.js";

const root = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const dir = mkdtempSync(join(tmpdir(), "c1m-bench-bundle-"));
const deadline = setTimeout(() => {
  process.stderr.write("bench: over 60 s\n");
  process.exit(1);
}, 60_000);

/** Starts a server with one worker on a free loopback port and returns the primary's and the worker's RSS once listening + 3 s. */
async function idleRss(entry: string): Promise<{ primary: number; worker: number }> {
  const child = spawn(
    process.execPath,
    [entry, "--port", "0", "--addresses", "127.0.0.1", "--workers", "1", "--metrics-port", "0"],
    {
      cwd: dir,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (d: Buffer) => d.toString().includes('"listening"') && resolve());
      child.once("exit", (code) => reject(new Error(`${entry} exited ${code}`)));
    });
    await new Promise((r) => setTimeout(r, 3000));
    const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/).map(Number);
    return { primary: rssKiB(child.pid!), worker: rssKiB(kids[0]!) };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
  }
}

try {
  const t0 = performance.now();
  const bundle = writeServerBundle(root, dir);
  const ms = performance.now() - t0;
  const size = statSync(bundle.path).size;
  const fromBundle = await idleRss(bundle.path);
  const fromDist = await idleRss(`${root}/dist/workload/server.js`);
  const row = (what: string, a: string, b: string) => console.log(`${what.padEnd(28)} ${a.padStart(14)} ${b.padStart(14)}`);
  console.log(
    `bundle: ${size.toLocaleString("en-US")} bytes, built in ${ms.toFixed(0)} ms (sha256 ${bundle.sha256.slice(0, 12)}…)`,
  );
  row("idle RSS (KiB)", "bundle", "dist");
  row("primary", String(fromBundle.primary), String(fromDist.primary));
  row("worker", String(fromBundle.worker), String(fromDist.worker));
} finally {
  clearTimeout(deadline);
  rmSync(dir, { recursive: true, force: true });
}
