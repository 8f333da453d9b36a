// A host's instance token. A Command has no read, so after a reboot (or a namespace or VM gone
// out of band) the state would still describe the old lab and `up` would change nothing. The
// host's create leaves a token where the next `up` reads it back while the host lives; when the
// host is gone, a new token in the host's triggers replaces it, and through the triggers every
// step on it.
import { randomUUID } from "node:crypto";
import * as command from "@pulumi/command";

/** The live host's token, read by `script` (prints it, or nothing when the host is gone), or a new one. */
export async function hostInstance(script: string): Promise<string> {
  const r = await command.local.run({ command: script, interpreter: ["/bin/bash", "-c"], logging: "stderr" });
  const live = r.stdout.trim();
  return /^[0-9a-f-]{36}$/.test(live) ? live : randomUUID();
}
