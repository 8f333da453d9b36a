// Client containers that are down (or, as a last explanation, restarted) with the run short.
import type { ClientSummary } from "../summary.js";
import type { Facts, LimitClass } from "./limitClass.js";
import { crashedList, of } from "./text.js";

function crashedSentence(f: Facts, crashed: [string, ClientSummary][]): string | null {
  const first = crashed[0];
  if (!first) return null;
  const said = first[1].lastError ? ` (last said: "${first[1].lastError.slice(0, 120)}")` : "";
  return (
    `Client containers crashed: ${crashedList(crashed)}, with ${of(f)} connections established; ` +
    `see docker logs ${first[0]}${said} and check the containers' memory and ulimits.`
  );
}

/** Containers down at the end: the most direct evidence. */
export const clientsDown: LimitClass = { limit: "clients-crashed", detect: (f) => crashedSentence(f, f.down) };
/** Containers that restarted but run again: only when nothing else explains the plateau. */
export const clientsRestarted: LimitClass = { limit: "clients-crashed", detect: (f) => crashedSentence(f, f.restarted) };
