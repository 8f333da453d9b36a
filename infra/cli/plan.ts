// npm run plan -- --stack NAME [--facts live|reference] [--json]: the capacity plan of a
// shipped stack file, touching nothing.
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { planCapacity, REFERENCE_FACTS } from "../capacity.js";
import { parseLabConfig } from "../config.js";
import { formatPlan } from "../planTable.js";
import { readHostFacts, readStackConfig, stackNames } from "./stackFile.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const usage = `usage: npm run plan -- --stack NAME [--facts live|reference] [--json]
  --stack   one of: ${stackNames(root).join(", ")} (default local)
  --facts   live: this machine's fd, conntrack and memory limits (default); reference: the documented 2-core, 20,000-fd machine
  --json    print the plan as JSON`;

try {
  const { values } = parseArgs({
    options: {
      stack: { type: "string", default: "local" },
      facts: { type: "string", default: "live" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(usage);
  } else {
    if (values.facts !== "live" && values.facts !== "reference") {
      throw new Error(`--facts must be live or reference, got ${values.facts}`);
    }
    const config = parseLabConfig(readStackConfig(root, values.stack));
    const plan = planCapacity(config, values.facts === "live" ? readHostFacts() : REFERENCE_FACTS);
    console.log(values.json ? JSON.stringify(plan, null, 2) : formatPlan(values.stack, plan));
  }
} catch (e) {
  console.error(`c1m-lab plan: ${(e as Error).message}\n\n${usage}`);
  process.exitCode = 2;
}
