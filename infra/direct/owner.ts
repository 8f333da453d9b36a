// One runner per stack. A lab brought up without the engine leaves a record of the very steps it
// ran (.c1m-lab/direct/<stack>.json), so its teardown undoes those and not today's config (a
// renamed namespace or an old NAT rule would stay); the engine refuses a stack with such a record,
// and the direct runner refuses a stack the engine's state holds resources for.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LabSteps } from "../server/netns/steps.js";

export class OwnerError extends Error {
  override name = "OwnerError";
}

export const directRecord = (root: string, stack: string) => join(root, ".c1m-lab", "direct", `${stack}.json`);

/** The steps a direct `up` ran, if the stack is up without the engine. */
export function readDirectRecord(root: string, stack: string): LabSteps | undefined {
  const file = directRecord(root, stack);
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as LabSteps) : undefined;
}

export function writeDirectRecord(root: string, steps: LabSteps): void {
  mkdirSync(join(root, ".c1m-lab", "direct"), { recursive: true });
  writeFileSync(directRecord(root, steps.stack), `${JSON.stringify(steps, null, 2)}\n`);
}

export function removeDirectRecord(root: string, stack: string): void {
  rmSync(directRecord(root, stack), { force: true });
}

/**
 * Resources the engine's file backend holds for the stack (0 when it has none, or the backend is
 * not a local file one: then the engine's own state is not ours to read).
 */
export function engineResourceCount(backendUrl: string, project: string, stack: string): number {
  if (!backendUrl.startsWith("file://")) return 0;
  const file = join(backendUrl.slice("file://".length), ".pulumi", "stacks", project, `${stack}.json`);
  if (!existsSync(file)) return 0;
  const state = JSON.parse(readFileSync(file, "utf8")) as { checkpoint?: { latest?: { resources?: { type: string }[] } } };
  return (state.checkpoint?.latest?.resources ?? []).filter((r) => r.type !== "pulumi:pulumi:Stack").length;
}

export function refuseEngineOnDirect(root: string, stack: string): void {
  if (readDirectRecord(root, stack)) {
    throw new OwnerError(
      `stack ${stack} is up without the engine (${directRecord(root, stack)}): take it down with ` +
        `\`npm run lab:down -- --stack ${stack} --direct\` before running it through the engine`,
    );
  }
}

export function refuseDirectOnEngine(backendUrl: string, project: string, stack: string): void {
  const n = engineResourceCount(backendUrl, project, stack);
  if (n > 0) {
    throw new OwnerError(
      `stack ${stack} is the engine's (${n} resources in its state at ${backendUrl}): use \`npm run lab:up|lab:down -- --stack ${stack}\` without --direct`,
    );
  }
}
