// No two modules under workload/ import each other, directly or around a longer loop (type-only
// imports and re-exports count: they tie the modules' meaning together just the same). The
// imports are read with TypeScript's own pre-processor, the loops found as strongly connected
// components (Tarjan).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return sources(rel);
    return e.name.endsWith(".ts") ? [rel] : [];
  });
}

/** file → the source files it imports (relative specifiers, ".js" → ".ts"), within `files`. */
function importGraph(files: string[]): Map<string, string[]> {
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(root, file), "utf8"), true, true);
    const targets = importedFiles
      .filter((i) => i.fileName.startsWith("."))
      .map((i) => relative(root, resolve(root, dirname(file), i.fileName)).replace(/\.js$/, ".ts"))
      .filter((t) => known.has(t));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** The import cycles in `graph`: each strongly connected component of more than one file (or a self-import), sorted. */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) visit(w);
      if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, low.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

test("the cycle finder finds a two-module cycle, a longer loop and a self-import, and nothing in a chain", () => {
  const graph = new Map([
    ["a.ts", ["b.ts"]],
    ["b.ts", ["a.ts", "c.ts"]],
    ["c.ts", ["d.ts"]],
    ["d.ts", ["e.ts"]],
    ["e.ts", ["c.ts"]],
    ["f.ts", ["f.ts"]],
    ["g.ts", ["a.ts"]],
  ]);
  assert.deepEqual(cycles(graph), [["a.ts", "b.ts"], ["c.ts", "d.ts", "e.ts"], ["f.ts"]]);
  assert.deepEqual(
    cycles(
      new Map([
        ["x.ts", ["y.ts"]],
        ["y.ts", ["z.ts"]],
        ["z.ts", []],
      ]),
    ),
    [],
  );
});

test("no import cycle under workload/ (type-only imports and re-exports included)", () => {
  const graph = importGraph(sources("workload"));
  // The graph is read for real: a value import, a type-only import and a re-export are edges.
  assert.ok(graph.get("workload/verify/diagnose.ts")?.includes("workload/verify/limits.ts"));
  assert.ok(graph.get("workload/verify/limits/limitClass.ts")?.includes("workload/verify/summary.ts"));
  assert.ok(graph.get("workload/verify/diagnose.ts")?.includes("workload/verify/perIp.ts"));
  assert.deepEqual(cycles(graph), []);
});
