// This machine's facts, read now (the CLI, bench and tests; the Pulumi program reads them through
// the Command provider in index.ts, by the same script).
import { execFileSync } from "node:child_process";
import type { HostFacts } from "./capacity.js";
import { hostFactsScript, parseHostFacts } from "./facts.js";

export function readHostFacts(): HostFacts {
  return parseHostFacts(execFileSync("/bin/bash", ["-c", hostFactsScript()], { encoding: "utf8" }));
}
