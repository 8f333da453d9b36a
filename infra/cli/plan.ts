// npm run plan -- --stack NAME [--facts live|reference] [--json]: the capacity plan of a
// shipped stack file, touching nothing.
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { ARTICLE_FACTS, planCapacity, REFERENCE_FACTS, type HostFacts } from "../plan/capacity.js";
import { parseLabConfig } from "../config/schema.js";
import { formatPlan } from "../plan/table.js";
import { readStackConfig, stackNames } from "../config/stackFile.js";
import { readHostFacts } from "../plan/readFacts.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const usage = `usage: npm run plan -- --stack NAME [--facts live|reference|article] [--json]
  --stack   one of: ${stackNames(root).join(", ")} (default local)
  --facts   live: this machine's fd, conntrack and memory limits (default); reference: the documented 2-core,
            20,000-fd machine; article: hosts whose Docker gives containers 1,048,576 fds, as in the article
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
    const facts: Record<string, () => HostFacts> = {
      live: readHostFacts,
      reference: () => REFERENCE_FACTS,
      article: () => ARTICLE_FACTS,
    };
    const read = facts[values.facts];
    if (!read) throw new Error(`--facts must be one of ${Object.keys(facts).join(", ")}, got ${values.facts}`);
    const config = parseLabConfig(readStackConfig(root, values.stack));
    const plan = planCapacity(config, read());
    console.log(values.json ? JSON.stringify(plan, null, 2) : formatPlan(values.stack, plan));
  }
} catch (e) {
  console.error(`c1m-lab plan: ${(e as Error).message}\n\n${usage}`);
  process.exitCode = 2;
}
