// A Node base image from this machine's own `node` binary and the libraries it links, for
// machines that reach no image registry (these, and air-gapped labs):
// `docker build --build-arg BASE_IMAGE=<it>` then works offline.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** Libraries `ldd` says the binary needs (absolute paths). */
export function linkedLibraries(binary: string): string[] {
  const out = execFileSync("ldd", [binary], { encoding: "utf8" });
  return [...out.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
}

/** Builds (or reuses) an image holding only node at /usr/local/bin/node; returns its name. */
export function ensureLocalNodeBase(name = `c1m-lab-node-base:${process.versions.node}`): string {
  try {
    execFileSync("docker", ["image", "inspect", name], { stdio: "ignore" });
    return name;
  } catch {
    // not there yet
  }
  const root = mkdtempSync(join(tmpdir(), "c1m-base-"));
  try {
    const node = process.execPath;
    for (const file of [node, ...linkedLibraries(node)]) {
      const target = join(root, file === node ? "/usr/local/bin/node" : file);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(file, target);
    }
    mkdirSync(join(root, "tmp"), { recursive: true });
    const tar = execFileSync("tar", ["-C", root, "-c", "."], { maxBuffer: 1 << 30 });
    execFileSync("docker", ["import", "-", name], { input: tar, stdio: ["pipe", "ignore", "pipe"] });
    return name;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
