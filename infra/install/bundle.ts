// The lab's programs as one JavaScript file each: esbuild bundles a workload entry with everything
// it imports (prom-client, dockerode, vega...), so where it runs needs Node.js and this file,
// nothing else: the connection server (on a VM, or in the namespace), the connection test, and the
// client inside its image. Equal sources give equal bytes in any checkout, so a bundle's sha256
// says whether what runs it must be reinstalled, and a checkout's path never does.
//
// The input is the TypeScript source (workload/*.ts), not dist/: a bundle never depends on whether
// `npm run build` ran since the last edit, and esbuild takes the TypeScript semantics from
// tsconfig.json as tsc does.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type * as esbuild from "esbuild";
import { BUNDLED_ASSETS_GLOBAL, DASHBOARD_ASSETS } from "../../shared/dashboardAssets.js";

export interface BundleSpec {
  /** The entry, relative to the checkout. */
  entry: string;
  /** The output's file name. */
  file: string;
  /** Its first line. */
  title: string;
  /** Packages left out: optional native add-ons their users load inside a try (ssh2's, via dockerode). */
  external?: string[];
  /** Files of packages whose text the bundle carries (the dashboard's uPlot). */
  assets?: string[];
}

export const SERVER_BUNDLE: BundleSpec = {
  entry: "workload/server.ts",
  file: "c1m-server.mjs",
  title: "c1m-lab connection server, bundled by esbuild from workload/server.ts: node c1m-server.mjs --help",
};
export const VERIFY_BUNDLE: BundleSpec = {
  entry: "workload/verify.ts",
  file: "c1m-verify.mjs",
  title: "c1m-lab connection test, bundled by esbuild from workload/verify.ts: node c1m-verify.mjs --help",
  external: ["cpu-features", "*.node"],
  assets: Object.values(DASHBOARD_ASSETS).map((a) => a.file),
};
export const CLIENT_BUNDLE: BundleSpec = {
  entry: "workload/client.ts",
  file: "c1m-client.mjs",
  title: "c1m-lab connection client, bundled by esbuild from workload/client.ts (configured by C1M_* env)",
};

/** The server bundle's file name (on a VM, in the workdir). */
export const SERVER_BUNDLE_FILE = SERVER_BUNDLE.file;

/**
 * ES modules (the workload is ESM and uses import.meta.url), so the CommonJS packages a bundle
 * holds get a real `require` for the Node.js built-ins they load, and `__dirname` where they read it.
 */
const banner = (title: string) =>
  [
    `// ${title}`,
    'import { createRequire as __c1mCreateRequire } from "node:module";',
    'import { fileURLToPath as __c1mFileURLToPath } from "node:url";',
    "const require = __c1mCreateRequire(import.meta.url);",
    "const __filename = __c1mFileURLToPath(import.meta.url);",
    'const __dirname = __c1mFileURLToPath(new URL(".", import.meta.url));',
  ].join("\n");

export interface Bundle {
  /** Local path of outDir/<file>. */
  path: string;
  sha256: string;
}
/** The server bundle (the name its first users know it by). */
export type ServerBundle = Bundle;

export class BundleError extends Error {
  override name = "BundleError";
}

function esbuildOf(): typeof esbuild.buildSync {
  try {
    return (createRequire(import.meta.url)("esbuild") as typeof esbuild).buildSync;
  } catch (err) {
    throw new BundleError(`esbuild is not installed (${(err as Error).message.split("\n")[0]}): run npm ci`);
  }
}

/** Each asset file's text, as esbuild `define` wants it (a JSON expression). */
function assetsDefine(root: string, files: string[]): Record<string, string> {
  if (files.length === 0) return {};
  const require = createRequire(join(root, "package.json"));
  const texts = Object.fromEntries(files.map((f) => [f, readFileSync(require.resolve(f), "utf8")]));
  return { [BUNDLED_ASSETS_GLOBAL]: JSON.stringify(texts) };
}

/** The bundle's bytes, built from the checkout at `root`. */
export function bundleBytes(root: string, spec: BundleSpec): Uint8Array {
  if (!existsSync(join(root, spec.entry))) {
    throw new BundleError(`${join(root, spec.entry)} is missing: bundling needs the root of a c1m-lab checkout, not ${root}`);
  }
  const build = esbuildOf();
  const outfile = join(root, spec.file);
  try {
    const result = build({
      absWorkingDir: root, // paths in the output's comments are relative to it: equal bytes in any checkout
      preserveSymlinks: true, // node_modules linked from elsewhere still reads node_modules/... in those comments
      entryPoints: [spec.entry],
      outfile,
      write: false,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      minify: false,
      sourcemap: false,
      banner: { js: banner(spec.title) },
      external: spec.external ?? [],
      define: assetsDefine(root, spec.assets ?? []),
      logLevel: "silent",
    });
    const out = result.outputFiles.find((f) => f.path === outfile);
    if (out === undefined) throw new Error(`esbuild wrote no ${spec.file}`);
    return out.contents;
  } catch (err) {
    const failure = err as Partial<esbuild.BuildFailure>;
    const why = Array.isArray(failure.errors)
      ? failure.errors.map((m) => (m.location ? `${m.location.file}:${m.location.line}: ${m.text}` : m.text)).join("; ")
      : (err as Error).message;
    throw new BundleError(`esbuild could not bundle ${spec.entry}: ${why} (run npm ci: the packages come from node_modules)`);
  }
}

export const sha256Of = (bytes: Uint8Array | string): string => createHash("sha256").update(bytes).digest("hex");

/** Writes `bytes` to `path` unless it already holds them (atomically: a reader never sees half a file). */
export function writeIfChanged(path: string, bytes: Uint8Array | string, dir: string): void {
  if (existsSync(path) && sha256Of(readFileSync(path)) === sha256Of(bytes)) return;
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes, { mode: 0o644 });
  renameSync(tmp, path);
}

/** Builds a bundle from the checkout at `root`; writes outDir/<file> only when its bytes changed. */
export function writeBundle(root: string, spec: BundleSpec, outDir: string): Bundle {
  const bytes = bundleBytes(root, spec);
  const path = join(outDir, spec.file);
  writeIfChanged(path, bytes, outDir);
  return { path, sha256: sha256Of(bytes) };
}

/** The connection server's bundle: outDir/c1m-server.mjs. */
export function writeServerBundle(root: string, outDir: string): ServerBundle {
  return writeBundle(root, SERVER_BUNDLE, outDir);
}
