// The deadline came while connections were still rising.
import { fmt, seconds } from "../format.js";
import { recentRate } from "../series.js";
import type { Facts, LimitClass } from "./limitClass.js";
import { of } from "./text.js";

function detect(f: Facts): string | null {
  if (f.run.stopReason !== "timeout") return null;
  const rate = recentRate(f.observations, f.run.stallSeconds);
  if (rate <= 0) return null;
  return (
    `Timed out after ${seconds(f.run.timeoutSeconds)} at ${of(f)} connections, still rising at ${fmt(rate)}/s ` +
    `(plan predicted ${fmt(f.plan.predicted)}); raise test.timeoutSeconds or clients.connectRate.`
  );
}

export const stillRamping: LimitClass = { limit: "still-ramping", detect };
