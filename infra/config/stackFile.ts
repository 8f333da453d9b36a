// Reads a shipped `Pulumi.<stack>.yaml` the way Pulumi would hand its config to the program.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { withoutSecretKeys } from "./secrets.js";

export function stackNames(root: string): string[] {
  return readdirSync(root)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

/** `c1m-lab:key` → value, for the keys of our namespace (secrets such as sshPrivateKey left out). */
export function readStackConfig(root: string, stack: string): Record<string, unknown> {
  const file = join(root, `Pulumi.${stack}.yaml`);
  if (!existsSync(file)) {
    throw new Error(`no stack file ${file}; shipped stacks: ${stackNames(root).join(", ")}`);
  }
  const doc = (parse(readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  return withoutSecretKeys(
    Object.fromEntries(
      Object.entries(doc.config ?? {})
        .filter(([k]) => k.startsWith("c1m-lab:"))
        .map(([k, v]) => [k.slice("c1m-lab:".length), v]),
    ),
  );
}

/** The same stack config in Pulumi's wire format: PULUMI_CONFIG's JSON (objects as JSON strings). */
export function pulumiConfigJson(root: string, stack: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(readStackConfig(root, stack)).map(([k, v]) => [`c1m-lab:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
  );
}
