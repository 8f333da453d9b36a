// The client host's facts for the capacity plan, read by running the facts script through the
// Command provider (so the plan sees the machine `pulumi up` runs on).
import * as command from "@pulumi/command";
import { z } from "zod";
import type { HostFacts } from "./capacity.js";
import { hostFactsScript } from "./scripts/netns.js";

const factsSchema = z.object({
  fdHardLimit: z.number().int().positive(),
  dockerNofile: z.number().int().positive().nullable(),
  nrOpen: z.number().positive(),
  fileMax: z.number().positive(),
  conntrackMax: z.number().int().positive(),
  conntrackBuckets: z.number().int().positive(),
  memAvailableBytes: z.number().positive(),
});

export function parseHostFacts(stdout: string): HostFacts {
  return factsSchema.parse(JSON.parse(stdout.trim()));
}

export async function gatherHostFacts(): Promise<HostFacts> {
  // Its stdout is JSON for the plan, not for the user's terminal.
  const result = await command.local.run({ command: hostFactsScript(), interpreter: ["/bin/bash", "-c"], logging: "stderr" });
  return parseHostFacts(result.stdout);
}
