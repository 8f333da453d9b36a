// Nothing listens on (some of) the server addresses: RSTs.
import { FAILURE_CLASSES } from "../../../shared/protocol.js";
import { briefList, fmt } from "../format.js";
import type { Facts, LimitClass } from "./limitClass.js";
import { of, silentAddresses, silentText } from "./text.js";

/** The server's addresses for a sentence: all of a few, else the count and the first and last. */
function addressesText(addresses: string[]): string {
  if (addresses.length <= 4) return briefList(addresses, 4);
  return `all ${fmt(addresses.length)}, ${addresses[0]} … ${addresses.at(-1)}`;
}

function detect(f: Facts): string | null {
  const { failures, plan } = f;
  const silent = silentAddresses(f);
  const maxOther = Math.max(...FAILURE_CLASSES.filter((c) => c !== "refused").map((c) => failures[c]));
  if (!(failures.refused > 0 && (failures.refused >= maxOther || silent.length > 0))) return null;
  const where = silent.length > 0 ? ` and ${silentText(f, silent)}` : "";
  return (
    `Connects refused: the clients got ${fmt(failures.refused)} refusals (RST)${where}, with ${of(f)} connections established; ` +
    `nothing listens there — check that the server runs and listens on every server address (${addressesText(plan.serverAddresses)}) at port ${plan.serverPort}.`
  );
}

export const serverRefused: LimitClass = { limit: "server-refused", detect };
