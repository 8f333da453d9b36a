// The connection server as one file for a VM: the compiled workload (dist/workload), a
// package.json that makes it ES modules, and the npm packages the server imports (prom-client and
// what it depends on, copied from this checkout's node_modules, so the VM needs no registry and
// runs the versions the tests ran). A deterministic .tar.gz: the same files give the same bytes,
// so its sha256 says whether the server on the VM must be reinstalled.
//
// makeTar / gzip are pure; collectBundleFiles and writeWorkloadBundle read (and write) files and
// are called from the program's edge (index.ts).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";

/** The npm packages dist/workload/server.js imports (workload/server/metrics.ts). */
export const SERVER_PACKAGES = ["prom-client"];

/** package.json at the root of the install: "type": "module" for the compiled ES modules. */
export const BUNDLE_PACKAGE_JSON = `${JSON.stringify({ name: "c1m-lab-server", private: true, type: "module" }, null, 2)}\n`;

export interface TarEntry {
  /** Path inside the archive, relative, "/"-separated. */
  name: string;
  data: Buffer;
  /** File mode; default 0644. */
  mode?: number;
}

export interface WorkloadBundle {
  /** Local path of the .tar.gz. */
  path: string;
  sha256: string;
  /** Archive paths, sorted. */
  files: string[];
}

export class BundleError extends Error {
  override name = "BundleError";
}

/** A POSIX ustar archive of regular files: sorted, owner 0:0, mtime 0, so equal input gives equal bytes. */
export function makeTar(entries: TarEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const blocks: Buffer[] = [];
  const seen = new Set<string>();
  for (const e of sorted) {
    if (seen.has(e.name)) throw new BundleError(`makeTar: ${e.name} is listed twice`);
    seen.add(e.name);
    blocks.push(tarHeader(e.name, e.data.length, e.mode ?? 0o644), e.data);
    const pad = (512 - (e.data.length % 512)) % 512;
    if (pad) blocks.push(Buffer.alloc(pad));
  }
  blocks.push(Buffer.alloc(1024)); // end of archive: two zero blocks
  return Buffer.concat(blocks);
}

function tarHeader(path: string, size: number, mode: number): Buffer {
  if (!/^[A-Za-z0-9@._+\-/]+$/.test(path) || path.startsWith("/") || path.split("/").includes("..")) {
    throw new BundleError(`makeTar: ${JSON.stringify(path)} is not a plain relative path`);
  }
  let name = path;
  let prefix = "";
  if (Buffer.byteLength(path) > 100) {
    // ustar: split at a "/" so that name ≤ 100 and prefix ≤ 155 bytes.
    const cut = path.lastIndexOf("/", 155);
    if (cut <= 0 || path.length - cut - 1 > 100) throw new BundleError(`makeTar: path too long for ustar: ${path}`);
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
  }
  const h = Buffer.alloc(512);
  const put = (text: string, offset: number, length: number) => h.write(text, offset, length, "ascii");
  /** A numeric field: length - 1 octal digits (the caller adds the NUL). */
  const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, "0");
  put(name, 0, 100);
  put(`${octal(mode, 8)}\0`, 100, 8);
  put(`${octal(0, 8)}\0`, 108, 8); // uid
  put(`${octal(0, 8)}\0`, 116, 8); // gid
  put(`${octal(size, 12)}\0`, 124, 12);
  put(`${octal(0, 12)}\0`, 136, 12); // mtime
  put("        ", 148, 8); // checksum placeholder: spaces
  put("0", 156, 1); // regular file
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  put("root", 265, 32);
  put("root", 297, 32);
  put(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return h;
}

/** gzip with a fixed header (mtime 0): deterministic for equal input. */
export function gzip(data: Buffer): Buffer {
  return gzipSync(data, { level: 9 });
}

export function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Every file under dir (sorted, relative "/" paths), skipping source maps. */
function walk(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.isFile() && !entry.name.endsWith(".map")) out.push(relative(dir, full).split("\\").join("/"));
    }
  };
  visit(dir);
  return out;
}

/** A package and, transitively, its dependencies, as found in root/node_modules. */
export function packageClosure(root: string, names: string[]): string[] {
  const found = new Set<string>();
  const queue = [...names];
  while (queue.length) {
    const name = queue.shift()!;
    if (found.has(name)) continue;
    const manifest = join(root, "node_modules", name, "package.json");
    if (!existsSync(manifest)) {
      throw new BundleError(`the server needs the npm package ${name}, but ${manifest} is missing: run npm ci`);
    }
    found.add(name);
    const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { dependencies?: Record<string, string> };
    queue.push(...Object.keys(pkg.dependencies ?? {}));
  }
  return [...found].sort();
}

/** The archive's entries: package.json, dist/workload/**, node_modules/<each package>/**. */
export function collectBundleFiles(root: string): TarEntry[] {
  const workload = join(root, "dist", "workload");
  if (!existsSync(join(workload, "server.js"))) {
    throw new BundleError(`${workload}/server.js is missing: run npm run build first`);
  }
  const entries: TarEntry[] = [{ name: "package.json", data: Buffer.from(BUNDLE_PACKAGE_JSON) }];
  for (const f of walk(workload)) entries.push({ name: `dist/workload/${f}`, data: readFileSync(join(workload, f)) });
  for (const pkg of packageClosure(root, SERVER_PACKAGES)) {
    const dir = join(root, "node_modules", pkg);
    for (const f of walk(dir)) {
      const full = join(dir, f);
      entries.push({
        name: `node_modules/${pkg}/${f}`,
        data: readFileSync(full),
        mode: statSync(full).mode & 0o111 ? 0o755 : 0o644,
      });
    }
  }
  return entries;
}

/** Builds the bundle from this checkout and writes it to outDir/server-workload.tgz (only when its bytes changed). */
export function writeWorkloadBundle(root: string, outDir: string): WorkloadBundle {
  const entries = collectBundleFiles(root);
  const bytes = gzip(makeTar(entries));
  const digest = sha256(bytes);
  const path = join(outDir, "server-workload.tgz");
  if (!existsSync(path) || sha256(readFileSync(path)) !== digest) {
    mkdirSync(outDir, { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  }
  return { path, sha256: digest, files: entries.map((e) => e.name).sort() };
}
