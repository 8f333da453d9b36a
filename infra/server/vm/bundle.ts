// The connection server for a VM as one JavaScript file: esbuild bundles workload/server.ts with
// everything it imports (prom-client and its dependencies included), so the VM needs Node.js and
// this file, nothing else. Equal sources give equal bytes, so its sha256 says whether the server
// on the VM must be reinstalled. One file runs both cluster roles (see workload/server.ts).
//
// The input is workload/server.ts, not dist/workload/server.js: the bundle then never depends on
// whether `npm run build` ran since the last edit (a stale dist/ cannot slip onto the VM), and
// esbuild takes the TypeScript semantics from tsconfig.json as tsc does.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type * as esbuild from "esbuild";

/** The bundle's file name in outDir (and on the VM, in the workdir). */
export const SERVER_BUNDLE_FILE = "c1m-server.mjs";
/** The entry, relative to the checkout. */
export const SERVER_ENTRY = "workload/server.ts";

/**
 * ES modules (the workload is ESM and uses import.meta.url), so the CommonJS packages it bundles
 * (prom-client) get a real `require` for the Node.js built-ins they load.
 */
const BANNER = [
  "// c1m-lab connection server, bundled by esbuild from workload/server.ts: node c1m-server.mjs --help",
  'import { createRequire as __c1mCreateRequire } from "node:module";',
  "const require = __c1mCreateRequire(import.meta.url);",
].join("\n");

export interface ServerBundle {
  /** Local path of outDir/c1m-server.mjs. */
  path: string;
  sha256: string;
}

export class BundleError extends Error {
  override name = "BundleError";
}

/** Builds the server bundle from the checkout at `root`; writes outDir/c1m-server.mjs only when its bytes changed. */
export function writeServerBundle(root: string, outDir: string): ServerBundle {
  const entry = join(root, SERVER_ENTRY);
  if (!existsSync(entry)) {
    throw new BundleError(`${entry} is missing: writeServerBundle needs the root of a c1m-lab checkout, not ${root}`);
  }
  let build: typeof esbuild.buildSync;
  try {
    build = (createRequire(import.meta.url)("esbuild") as typeof esbuild).buildSync;
  } catch (err) {
    throw new BundleError(`esbuild is not installed (${(err as Error).message.split("\n")[0]}): run npm ci`);
  }
  const path = join(outDir, SERVER_BUNDLE_FILE);
  let bytes: Uint8Array;
  try {
    const result = build({
      absWorkingDir: root, // paths in the output's comments are relative to it: equal bytes in any checkout
      entryPoints: [SERVER_ENTRY],
      outfile: path,
      write: false,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      minify: false,
      sourcemap: false,
      banner: { js: BANNER },
      logLevel: "silent",
    });
    const out = result.outputFiles.find((f) => f.path === path);
    if (out === undefined) throw new Error(`esbuild wrote no ${path}`);
    bytes = out.contents;
  } catch (err) {
    const failure = err as Partial<esbuild.BuildFailure>;
    const why = Array.isArray(failure.errors)
      ? failure.errors.map((m) => (m.location ? `${m.location.file}:${m.location.line}: ${m.text}` : m.text)).join("; ")
      : (err as Error).message;
    throw new BundleError(
      `esbuild could not bundle ${SERVER_ENTRY}: ${why} (run npm ci: prom-client and esbuild come from node_modules)`,
    );
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (!existsSync(path) || createHash("sha256").update(readFileSync(path)).digest("hex") !== sha256) {
    mkdirSync(outDir, { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes, { mode: 0o644 });
    renameSync(tmp, path);
  }
  return { path, sha256 };
}
