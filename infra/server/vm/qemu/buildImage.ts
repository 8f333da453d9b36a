// `npm run vm:image`: builds (or finds in the cache) the Debian test image for the qemu provider
// and prints the stack config that points at it. Cache: ~/.cache/c1m-lab/vm-image/<recipe hash>/
// ($XDG_CACHE_HOME respected), with `current` linking the last one built.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { imageBuildScript, imageFiles, IMAGE_KERNEL_ARGS, type ImageRecipe } from "./image.js";

/** Where images are cached. */
export function imageCacheRoot(): string {
  return `${process.env.XDG_CACHE_HOME || `${homedir()}/.cache`}/c1m-lab/vm-image`;
}

/**
 * The Debian mirror apt uses on this machine (deb822 `URIs:` or one-line `deb`), not the security
 * one; $C1M_DEBIAN_MIRROR overrides it. No built-in fallback: the image comes from where this
 * machine's own packages come from.
 */
export function aptMirror(files = aptSourceFiles(), env: NodeJS.ProcessEnv = process.env): string {
  if (env.C1M_DEBIAN_MIRROR) return env.C1M_DEBIAN_MIRROR.replace(/\/$/, "");
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^\s*(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+)/gm)) {
      const uri = m[1]!.replace(/\/$/, "");
      if (/\/debian$/.test(uri)) return uri;
    }
  }
  throw new Error(
    `no Debian mirror in this machine's apt sources (${files.join(", ") || "none found"}): set C1M_DEBIAN_MIRROR to one (an http(s) URL ending in /debian)`,
  );
}

function aptSourceFiles(): string[] {
  const dir = "/etc/apt/sources.list.d";
  const listed = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".sources") || f.endsWith(".list"))
        .sort()
        .map((f) => `${dir}/${f}`)
    : [];
  return ["/etc/apt/sources.list", ...listed].filter((f) => existsSync(f));
}

/** This machine's recipe: its mirror and its node binary. */
export function localRecipe(): ImageRecipe {
  const node = process.execPath;
  return {
    mirror: aptMirror(),
    node: { path: node, sha256: createHash("sha256").update(readFileSync(node)).digest("hex") },
    diskSize: "4G",
  };
}

function main(): void {
  const recipe = localRecipe();
  const cache = imageCacheRoot();
  const files = imageFiles(cache, recipe);
  const started = Date.now();
  const r = spawnSync("/bin/bash", ["-c", imageBuildScript(recipe, cache)], { stdio: "inherit", timeout: 3_900_000 });
  if (r.status !== 0) {
    process.stderr.write(`vm:image: failed (exit ${r.status ?? r.signal})\n`);
    process.exit(1);
  }
  process.stdout.write(
    [
      `vm:image: ready in ${((Date.now() - started) / 1000).toFixed(1)}s: ${files.dir}`,
      "server config for it (Pulumi.qemu.example.yaml uses the `current` link):",
      `  image: ${files.disk}`,
      `  kernel: ${files.kernel}`,
      `  initrd: ${files.initrd}`,
      `  kernelArgs: ${IMAGE_KERNEL_ARGS}`,
      "",
    ].join("\n"),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) main();
