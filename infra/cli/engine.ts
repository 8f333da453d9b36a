// Finds the Pulumi engine the lab commands and the engine tests drive through the Automation
// API: $PULUMI_BIN, else a `pulumi` on PATH, else the one `npm run engine:build` built here.
// Also tells whether the provider plugins the program needs are installed, since on a machine
// without github.com they cannot be fetched at `up` time.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { homedir } from "node:os";
import { PulumiCommand } from "@pulumi/pulumi/automation/index.js";

export interface Engine {
  command: PulumiCommand;
  /** The CLI binary. */
  bin: string;
  /** Where it came from, for the first progress line. */
  source: string;
}

export class EngineMissing extends Error {
  override name = "EngineMissing";
}

/** The provider plugins the program loads: the npm packages' own versions. */
export function requiredPlugins(root: string): { name: string; version: string }[] {
  return ["command", "docker"].map((name) => ({
    name,
    version: (
      JSON.parse(readFileSync(join(root, "node_modules", "@pulumi", name, "package.json"), "utf8")) as { version: string }
    ).version,
  }));
}

/** The bin directory engine/build.sh would print, if it built before (no build here: cached only). */
function builtEngineBin(root: string): string | undefined {
  const cache = process.env.C1M_ENGINE_CACHE ?? join(homedir(), ".cache", "c1m-lab", "engine");
  if (!existsSync(cache)) return undefined;
  const r = spawnSync("bash", [join(root, "engine", "build.sh")], {
    encoding: "utf8",
    env: { ...process.env, C1M_ENGINE_CACHE: cache, C1M_ENGINE_CACHED_ONLY: "1" },
  });
  const bin = r.stdout.trim().split("\n").pop();
  return r.status === 0 && bin && existsSync(join(bin, "pulumi")) ? bin : undefined;
}

function onPath(name: string): string | undefined {
  const r = spawnSync("bash", ["-c", `command -v ${name}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * The engine, or EngineMissing saying how to get one. `build`: run engine/build.sh when nothing
 * else is found (a cold build takes tens of minutes; it needs Go and the Go module proxy).
 */
export async function findEngine(root: string, options: { build?: boolean } = {}): Promise<Engine> {
  const candidates: { bin: string; source: string }[] = [];
  if (process.env.PULUMI_BIN) candidates.push({ bin: process.env.PULUMI_BIN, source: "$PULUMI_BIN" });
  else {
    const path = onPath("pulumi");
    // node_modules/.bin/pulumi is npm's launcher, which downloads the CLI: not an engine.
    if (path && !path.includes("node_modules")) candidates.push({ bin: path, source: "PATH" });
    const built = builtEngineBin(root);
    if (built) candidates.push({ bin: join(built, "pulumi"), source: "engine:build" });
  }
  if (candidates.length === 0 && options.build && onPath("go")) {
    process.stderr.write("c1m-lab: no Pulumi CLI found; building it from Go modules (npm run engine:build)\n");
    const r = spawnSync("bash", [join(root, "engine", "build.sh")], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
    const bin = r.stdout.trim().split("\n").pop();
    if (r.status === 0 && bin) candidates.push({ bin: join(bin, "pulumi"), source: "engine:build" });
  }
  const found = candidates[0];
  if (!found) {
    throw new EngineMissing(
      "no Pulumi CLI: install it (https://www.pulumi.com/docs/install/), set PULUMI_BIN to its binary, " +
        "or run `npm run engine:build` where Go and the Go module proxy are reachable",
    );
  }
  if (basename(found.bin) !== "pulumi" || basename(dirname(found.bin)) !== "bin") {
    throw new EngineMissing(
      `${found.source}: ${found.bin} must be a pulumi binary in a bin/ directory (the Automation API's layout)`,
    );
  }
  const command = await PulumiCommand.get({ root: dirname(dirname(found.bin)), skipVersionCheck: false });
  return { command, bin: found.bin, source: found.source };
}

/** Required plugins the engine does not have installed (empty: `pulumi up` can run offline). */
export function missingPlugins(engine: Engine, root: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const out = execFileSync(engine.bin, ["plugin", "ls", "--json"], {
    encoding: "utf8",
    env: { ...env, PULUMI_SKIP_UPDATE_CHECK: "true" },
  });
  const installed = (JSON.parse(out || "[]") as { name: string; kind: string; version: string }[]) ?? [];
  return requiredPlugins(root)
    .filter((p) => !installed.some((i) => i.kind === "resource" && i.name === p.name && i.version === p.version))
    .map((p) => `${p.name} ${p.version}`);
}
