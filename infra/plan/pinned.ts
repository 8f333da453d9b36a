// What depends on who runs `up` is read once per stack and kept: the fd hard limit of the shell
// (the plan sizes server workers by it), the node binary (it is in the server's and the test's
// scripts) and HOME (`~` in VM paths). Another shell, nvm or sudo would otherwise change those
// scripts, and a no-change `up` would replace server, clients and test: at a million, a re-ramp.
// The file goes with the stack (the program's `pinned-facts` step deletes it on destroy).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";

export interface Pinned {
  fdHardLimit: number;
  node: string;
  home: string;
}

const pinnedSchema = z.object({ fdHardLimit: z.number().int().positive(), node: z.string().min(1), home: z.string().min(1) });

/**
 * The pinned values of `file`, or `current` (then written to it). A pinned node binary or HOME
 * that is gone is replaced by the current one; anything unreadable counts as nothing pinned.
 */
export function pinFacts(file: string, current: Pinned, exists: (path: string) => boolean = existsSync): Pinned {
  let pinned: Pinned | undefined;
  try {
    pinned = pinnedSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  } catch {
    pinned = undefined;
  }
  const kept: Pinned = pinned
    ? {
        ...pinned,
        node: exists(pinned.node) ? pinned.node : current.node,
        home: exists(pinned.home) ? pinned.home : current.home,
      }
    : current;
  if (!pinned || kept.node !== pinned.node || kept.home !== pinned.home) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(kept)}\n`);
  }
  return kept;
}

/** Where a stack's pinned values live: $C1M_PINNED_DIR (tests), else .c1m-lab/pinned in the Pulumi project directory. */
export function pinnedFile(root: string, stack: string, env: NodeJS.ProcessEnv = process.env): string {
  return `${env.C1M_PINNED_DIR ?? `${root}/.c1m-lab/pinned`}/${stack}.json`;
}
