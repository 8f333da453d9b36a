// The layout's rules, checked on the source tree: infra/ and workload/ never import each other
// (both import shared/, which imports neither), the pure modules never import Pulumi, and no
// production code hides in a folder named test.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith(".ts")) out.push(rel);
  }
  return out;
}

/** Every module specifier a file imports or re-exports (static and dynamic). */
function imports(file: string): string[] {
  const text = readFileSync(join(root, file), "utf8");
  return [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g),
  ].map((m) => (m[1] ?? m[2])!);
}

/** The top-level folder a relative specifier lands in, seen from `file`. */
function topFolder(file: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined;
  return relative(root, resolve(root, dirname(file), spec)).split("/")[0];
}

test("the import rules hold on a file that breaks them (the checker itself)", () => {
  // A literal case, so a checker that never matches cannot pass the tests below.
  assert.equal(topFolder("infra/server/vm/steps.ts", "../../../workload/protocol.js"), "workload");
  assert.equal(topFolder("workload/verify/types.ts", "../../shared/plan.js"), "shared");
  assert.equal(topFolder("infra/lab.ts", "@pulumi/pulumi"), undefined);
});

test("infra/ never imports workload/, workload/ never imports infra/, shared/ imports neither", () => {
  const bad: string[] = [];
  for (const [dir, forbidden] of [
    ["infra", ["workload"]],
    ["workload", ["infra"]],
    ["shared", ["infra", "workload", "netplan"]],
  ] as const) {
    for (const file of sources(dir)) {
      for (const spec of imports(file)) {
        const top = topFolder(file, spec);
        if (top && (forbidden as readonly string[]).includes(top)) bad.push(`${file} imports ${spec}`);
      }
    }
  }
  assert.deepEqual(bad, []);
  // Both halves do use shared/ (the rule is not met by a shared/ nobody imports).
  assert.ok(sources("infra").some((f) => imports(f).some((s) => topFolder(f, s) === "shared")));
  assert.ok(sources("workload").some((f) => imports(f).some((s) => topFolder(f, s) === "shared")));
});

test("plan, config, steps, script builders and renderers import no Pulumi package", () => {
  const pure = [
    ...sources("infra/config"),
    ...sources("infra/plan"),
    ...sources("netplan"),
    ...sources("shared"),
    ...sources("infra/server").filter((f) => f.includes("/scripts/") || /\/(steps|scripts|image|args)\.ts$/.test(f)),
    "infra/clients/steps.ts",
    "infra/clients/natPool.ts",
    "infra/clients/images.ts",
    "infra/clients/drain.ts",
    "infra/check/args.ts",
    "infra/shell.ts",
  ];
  assert.ok(pure.includes("infra/server/vm/scripts/netplan.ts") && pure.includes("infra/server/netns/steps.ts"));
  const bad = pure.flatMap((f) =>
    imports(f)
      .filter((s) => s.startsWith("@pulumi/"))
      .map((s) => `${f} imports ${s}`),
  );
  assert.deepEqual(bad, []);
});

test("no production code in a folder named test, and each backend is a folder", () => {
  assert.equal(existsSync(join(root, "infra/test")), false);
  for (const dir of ["infra/server/netns", "infra/server/vm", "infra/server/vm/multipass", "infra/server/vm/qemu"]) {
    assert.ok(existsSync(join(root, dir)), `${dir} exists`);
  }
  // Variants are folders, not name prefixes.
  const prefixed = sources("infra").filter((f) => /\/(vm|netns|qemu|multipass)[A-Z][^/]*\.ts$/.test(f));
  assert.deepEqual(prefixed, []);
});

test("the README's layout names every folder of infra/ and shared/, and every file it names exists", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const block = /## Layout\n[\s\S]*?```\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, "README.md has a Layout section with a tree");
  // The tree's indentation gives each entry its folder: "infra/" then "  server/" then "    vm/".
  const folders: string[] = [];
  const named: string[] = [];
  const stack: { indent: number; path: string }[] = [];
  for (const line of block.split("\n")) {
    // Entries sit at most a few levels deep; a description wrapped onto the next line is indented far more.
    const m = /^( {0,8})([A-Za-z0-9_.-]+\/)(?= |$)/.exec(line);
    if (!m) continue;
    const indent = m[1]!.length;
    while (stack.length && stack.at(-1)!.indent >= indent) stack.pop();
    const path = `${stack.at(-1)?.path ?? ""}${m[2]}`;
    stack.push({ indent, path });
    folders.push(path.replace(/\/$/, ""));
    for (const f of line.slice(indent + m[2]!.length).matchAll(/\b([A-Za-z]+\.ts)\b/g)) named.push(`${path}${f[1]}`);
  }
  const dirs = (d: string): string[] =>
    readdirSync(join(root, d), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .flatMap((e) => [`${d}/${e.name}`, ...dirs(`${d}/${e.name}`)]);
  // scripts/ folders are described with their backend ("scripts/ (one file per step)").
  const expected = ["infra", "shared", ...dirs("infra"), ...dirs("shared")].filter((d) => !d.endsWith("/scripts"));
  assert.deepEqual(
    expected.filter((d) => !folders.includes(d)),
    [],
    "folders missing from the README's layout",
  );
  assert.deepEqual(
    folders.filter((d) => !existsSync(join(root, d))),
    [],
    "folders in the README's layout that do not exist",
  );
  assert.ok(named.length > 20, `the layout names files (${named.length})`);
  assert.deepEqual(
    named.filter((f) => !existsSync(join(root, f))),
    [],
    "files in the README's layout that do not exist",
  );
});
