// No known class matches a plateau: what is known, for a start.
import { fmt } from "../format.js";
import type { Facts } from "./limitClass.js";
import { failureList, of, silentAddresses, silentText } from "./text.js";

export function unknownLimit(f: Facts): string {
  const silent = silentAddresses(f);
  const hints: string[] = [];
  if (silent.length > 0) hints.push(silentText(f, silent));
  if (f.perClient.length === 0) hints.push("no client view to classify failures (pass --clients-label)");
  else if (f.failures.other + f.failures.reset + f.failures.addrnotavail > 0)
    hints.push(`clients counted ${failureList(f.failures)}`);
  return (
    `Plateau at ${of(f)} connections, below the plan's ${fmt(f.plan.predicted)} (${f.plan.bindingLimit}), and no known limit matches` +
    `${hints.length > 0 ? `: ${hints.join("; ")}` : ""}.`
  );
}
