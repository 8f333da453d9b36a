// Reads a stack's `Pulumi.<stack>.yaml` the way Pulumi would hand its config to the program.
// Stacks that need a secret ship as `Pulumi.<stack>.example.yaml` (tracked, never holding one):
// the stack is `<stack>`, and `lab:up` copies the example to the untracked `Pulumi.<stack>.yaml`
// where the secret then goes. A stack's own file wins over its example.
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseDocument } from "yaml";
import { SECRET_CONFIG_KEYS, withoutSecretKeys } from "./secrets.js";

/** `Pulumi.<stack>.yaml` or `Pulumi.<stack>.example.yaml` → stack, from a file name. */
function stackOf(file: string): string | undefined {
  const m = /^Pulumi\.(.+?)(\.example)?\.yaml$/.exec(file);
  return m?.[1];
}

/** Every stack with a file or an example, sorted. */
export function stackNames(root: string): string[] {
  return [...new Set(readdirSync(root).flatMap((f) => stackOf(f) ?? []))].sort();
}

export const stackFilePath = (root: string, stack: string) => join(root, `Pulumi.${stack}.yaml`);
export const exampleFilePath = (root: string, stack: string) => join(root, `Pulumi.${stack}.example.yaml`);

export interface ReadOptions {
  /** Read what ships (the example where there is one), never the user's copy: for tests and plans of record. */
  shipped?: boolean;
}

/** The file the stack's config comes from: its own, else its example; undefined if neither exists. */
export function stackConfigFile(root: string, stack: string, options: ReadOptions = {}): string | undefined {
  const own = stackFilePath(root, stack);
  const example = exampleFilePath(root, stack);
  const order = options.shipped ? [example, own] : [own, example];
  return order.find((f) => existsSync(f));
}

/**
 * Makes sure `Pulumi.<stack>.yaml` holds the stack's settings where it has an example (the file
 * Pulumi reads and `pulumi config set` writes): copies the example when the file is missing, and
 * fills in the example's settings when the file holds none of the lab's (as `pulumi stack select
 * --create` or `pulumi config set --secret` leave it), keeping what it holds. Returns the line to
 * print when it wrote the file, else undefined.
 */
export function ensureStackFile(root: string, stack: string): string | undefined {
  const own = stackFilePath(root, stack);
  const example = exampleFilePath(root, stack);
  if (!existsSync(example)) return undefined;
  if (!existsSync(own)) {
    copyFileSync(example, own);
    return `copied Pulumi.${stack}.example.yaml to Pulumi.${stack}.yaml (untracked: your settings and secrets go there)`;
  }
  const held = (parse(readFileSync(own, "utf8")) ?? {}) as Record<string, unknown> & { config?: Record<string, unknown> };
  const settings = Object.keys(held.config ?? {}).filter(
    (k) => k.startsWith("c1m-lab:") && !SECRET_CONFIG_KEYS.includes(k.slice("c1m-lab:".length)),
  );
  if (settings.length) return undefined;
  const doc = parseDocument(readFileSync(example, "utf8"));
  for (const [k, v] of Object.entries(held)) if (k !== "config") doc.set(k, v);
  for (const [k, v] of Object.entries(held.config ?? {})) doc.setIn(["config", k], v);
  writeFileSync(own, doc.toString());
  return `Pulumi.${stack}.yaml held no c1m-lab settings: filled in those of Pulumi.${stack}.example.yaml, kept what it held`;
}

/** `c1m-lab:key` → value, for the keys of our namespace (secrets such as sshPrivateKey left out). */
export function readStackConfig(root: string, stack: string, options: ReadOptions = {}): Record<string, unknown> {
  const file = stackConfigFile(root, stack, options);
  if (file === undefined) {
    throw new Error(`no stack file ${stackFilePath(root, stack)}; stacks: ${stackNames(root).join(", ")}`);
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
export function pulumiConfigJson(root: string, stack: string, options: ReadOptions = {}): Record<string, string> {
  return Object.fromEntries(
    Object.entries(readStackConfig(root, stack, options)).map(([k, v]) => [
      `c1m-lab:${k}`,
      typeof v === "string" ? v : JSON.stringify(v),
    ]),
  );
}
