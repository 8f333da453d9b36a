// Where the program puts the bundles the lab's steps install (I/O, at the program's start): a
// directory per content hash under the stage root, so a path in a step's script names what it
// installs by its bytes and never by the checkout it was built from. Another checkout, or this
// one moved, stages the same bytes at the same path: nothing in the state changes.
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { stackInstallDir, type LabPaths, type StagedWorkload } from "../plan/paths.js";
import {
  CLIENT_BUNDLE,
  SERVER_BUNDLE,
  VERIFY_BUNDLE,
  bundleBytes,
  sha256Of,
  writeIfChanged,
  type Bundle,
  type BundleSpec,
} from "./bundle.js";

/** Where stages live: $C1M_STAGE_DIR (tests), else a cache in the (pinned) home directory. */
export function stageRootOf(home: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.C1M_STAGE_DIR ?? `${home}/.cache/c1m-lab/workload`;
}

/** A stage unused this long is removed when the program stages (what a running lab uses is installed elsewhere). */
const STALE_MS = 30 * 24 * 3600 * 1000;

function stage(stageRoot: string, sha256: string, files: [string, Uint8Array | string][]): string {
  const dir = join(stageRoot, sha256);
  for (const [name, bytes] of files) writeIfChanged(join(dir, name), bytes, dir);
  const now = new Date();
  utimesSync(dir, now, now); // in use: kept by the pruning below
  return dir;
}

function pruneStale(stageRoot: string, keep: Set<string>): void {
  for (const name of readdirSync(stageRoot)) {
    const dir = join(stageRoot, name);
    if (!/^[0-9a-f]{64}$/.test(name) || keep.has(dir)) continue;
    if (Date.now() - statSync(dir).mtimeMs > STALE_MS) rmSync(dir, { recursive: true, force: true });
  }
}

const staged = new Map<string, StagedWorkload>();

/**
 * Bundles server, connection test and client from the checkout at `root` and stages them under
 * `stageRoot`. Built once per process (a program run; the mocks' runs share it).
 */
export function stageWorkload(root: string, stageRoot: string): StagedWorkload {
  const key = `${root}\0${stageRoot}`;
  const done = staged.get(key);
  if (done && [done.server.path, done.verify.path, done.clientImage.dockerfile].every((p) => existsSync(p))) return done;
  const bundle = (spec: BundleSpec): Bundle => {
    const bytes = bundleBytes(root, spec);
    const sha256 = sha256Of(bytes);
    return { path: join(stage(stageRoot, sha256, [[spec.file, bytes]]), spec.file), sha256 };
  };
  const server = bundle(SERVER_BUNDLE);
  const verify = bundle(VERIFY_BUNDLE);
  const client = bundleBytes(root, CLIENT_BUNDLE);
  const dockerfile = readFileSync(join(root, "workload/Dockerfile"));
  const imageSha = sha256Of(`Dockerfile ${sha256Of(dockerfile)}\n${CLIENT_BUNDLE.file} ${sha256Of(client)}\n`);
  const context = stage(stageRoot, imageSha, [
    ["Dockerfile", dockerfile],
    [CLIENT_BUNDLE.file, client],
  ]);
  const result: StagedWorkload = {
    server,
    verify,
    clientImage: { context, dockerfile: join(context, "Dockerfile"), sha256: imageSha },
  };
  pruneStale(stageRoot, new Set([context, join(stageRoot, server.sha256), join(stageRoot, verify.sha256)]));
  staged.set(key, result);
  return result;
}

/**
 * This machine's paths for a stack: the bundles built from the checkout at `root` and staged by
 * content, the stack's own directory, its runtime state. `node` and `home` are the pinned ones
 * (the program's, infra/plan/pinned.ts) or the current ones (the engine-free runner).
 */
export function localLabPaths(
  root: string,
  stack: string,
  facts: { node: string; home: string },
  env: NodeJS.ProcessEnv = process.env,
): LabPaths {
  return {
    node: facts.node,
    stateDir: `/run/c1m-lab/${stack}`,
    installDir: stackInstallDir(stack),
    staged: stageWorkload(root, stageRootOf(facts.home, env)),
    reportsDir: "reports",
  };
}
