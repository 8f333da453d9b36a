// Reading the last lines of a log: a client's last status line, a command's last error line.
import type { ClientStatus } from "../../shared/protocol.js";
import { clientStatusSchema } from "./types.js";

/** The last valid ClientStatus line in a log tail (other lines are ignored). */
export function lastStatusLine(stdout: string): ClientStatus | null {
  const lines = stdout.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith("{")) continue;
    try {
      const parsed = clientStatusSchema.safeParse(JSON.parse(line));
      if (parsed.success) return parsed.data;
    } catch {
      // not JSON: skip
    }
  }
  return null;
}

export function lastLine(text: string): string | null {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const line = lines.at(-1);
  return line === undefined ? null : line.slice(0, 300);
}
