// The direct runner's executors as a recorder: every bash script and docker CLI call in the order
// labUp / labDown make them, with stand-in answers (an image id for a build, one round of ids for
// the listings labDown walks). Plus a reader of the docker CLI argument lists it records.
import type { DirectExec } from "../../infra/direct/runner.js";

export type Call = { kind: "bash"; what: string; script: string } | { kind: "docker"; what: string; args: string[] };

/** What the recorded `docker build -q` prints: the built image's id. */
export const BUILT_IMAGE_ID = "sha256:5eed0000000000000000000000000000000000000000000000000000000000e5";

export function recorder(): { exec: DirectExec; calls: Call[] } {
  const calls: Call[] = [];
  const listed = new Set<string>();
  // A listing answers ids once, then nothing (what labDown's retry loop sees once they are removed).
  const once = (key: string, ids: string) => (listed.has(key) ? "" : (listed.add(key), ids));
  return {
    calls,
    exec: {
      bash(script, what) {
        calls.push({ kind: "bash", what, script });
        return "";
      },
      docker(args, what) {
        calls.push({ kind: "docker", what, args: [...args] });
        if (args[0] === "build") return `${BUILT_IMAGE_ID}\n`;
        if (args[0] === "ps") return once("ps", "c0ffee01\nc0ffee02\n");
        if (args[0] === "network" && args[1] === "ls") return once("network", "feed0001\n");
        return "";
      },
    },
  };
}

/** A docker CLI argument list read back: its flags (each value in order) and positional words. */
export interface DockerArgs {
  flags: Map<string, string[]>;
  positional: string[];
}

/** Flags of `docker build | network create | run` that stand alone (no value). */
const BARE = new Set(["-q", "-d"]);

export function readDockerArgs(args: string[]): DockerArgs {
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("-")) positional.push(a);
    else if (BARE.has(a)) flags.set(a, [...(flags.get(a) ?? []), ""]);
    else flags.set(a, [...(flags.get(a) ?? []), args[++i]!]);
  }
  return { flags, positional };
}

/** `k=v` values of one flag as an object (split at the first `=`). */
export function pairs(values: string[] | undefined): Record<string, string> {
  return Object.fromEntries((values ?? []).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
}
