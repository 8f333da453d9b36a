// The ramp chart: a real SVG (parsed), one line per server IP plus the total, the predicted
// ceiling as a rule.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { XMLParser } from "fast-xml-parser";
import { rampPoints, renderRampSvg } from "../../workload/verify/chart.js";
import { loadFixture } from "./verify-fixtures.js";

type Node = Record<string, unknown>;

/** Every element named `tag` anywhere in the parsed tree. */
function elements(tree: unknown, tag: string, out: Node[] = []): Node[] {
  if (Array.isArray(tree)) {
    for (const t of tree) elements(t, tag, out);
  } else if (tree && typeof tree === "object") {
    for (const [k, v] of Object.entries(tree as Node)) {
      if (k === tag)
        for (const el of Array.isArray(v) ? v : [v])
          out.push(typeof el === "object" && el !== null ? (el as Node) : { "#text": el });
      if (!k.startsWith("@_")) elements(v, tag, out);
    }
  }
  return out;
}

function parseSvg(svg: string): unknown {
  const tree = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@_" }).parse(svg, true);
  assert.ok((tree as Node).svg, "root element is <svg>");
  return tree;
}

/** The series of each line mark, from vega's aria-label ("...; server IP: 10.201.0.2", the legend title). */
const seriesOf = (tree: unknown) =>
  elements(tree, "path")
    .filter((p) => p["@_aria-roledescription"] === "line mark")
    .map((p) => /server IP: ([^;]+)/.exec(String(p["@_aria-label"]))?.[1])
    .sort();

const ruleLabels = (tree: unknown) =>
  elements(tree, "line")
    .filter((l) => l["@_aria-roledescription"] === "rule mark")
    .map((l) => String(l["@_aria-label"]))
    .sort();

describe("verify chart", () => {
  it("draws one line per server IP plus the total, and the predicted ceiling", async () => {
    const fx = loadFixture("three-ips-pass");
    const svg = await renderRampSvg({
      observations: fx.run.observations,
      predicted: 144_000,
      target: 144_000,
      serverAddresses: fx.plan.serverAddresses,
    });
    const tree = parseSvg(svg);
    assert.deepEqual(seriesOf(tree), ["10.201.0.2", "10.201.0.3", "10.201.0.4", "total"]);
    assert.deepEqual(ruleLabels(tree), ["predicted 144,000"]);
    const groups = elements(tree, "g").map((g) => String(g["@_class"] ?? ""));
    assert.ok(
      groups.some((c) => c.includes("ceiling_marks")),
      "the rule is the ceiling layer",
    );
    const texts = elements(tree, "text").map((t) => String(t["#text"]));
    for (const label of ["10.201.0.2", "10.201.0.3", "10.201.0.4", "total", "predicted 144,000"])
      assert.ok(texts.includes(label), `legend/label ${label}`);
  });

  it("draws the target too when the plan predicts a plateau below it", async () => {
    const fx = loadFixture("nat-pool-1ip");
    const tree = parseSvg(await renderRampSvg({ observations: fx.run.observations, predicted: 64_512, target: 80_000 }));
    assert.deepEqual(seriesOf(tree), ["10.201.0.2", "total"]);
    assert.deepEqual(ruleLabels(tree), ["predicted 64,512", "target 80,000"]);
  });

  it("still renders (rule, no lines, a note) when /stats never answered", async () => {
    const fx = loadFixture("server-unreachable");
    const tree = parseSvg(await renderRampSvg({ observations: fx.run.observations, predicted: 15_000, target: 15_000 }));
    assert.deepEqual(seriesOf(tree), []);
    assert.deepEqual(ruleLabels(tree), ["predicted 15,000"]);
    assert.ok(elements(tree, "text").some((t) => String(t["#text"]).includes("no server data")));
  });

  it("turns observations into points per server IP and total, skipping unreachable polls", () => {
    const fx = loadFixture("three-ips-pass");
    fx.run.observations[2]!.server = null;
    const pts = rampPoints({ observations: fx.run.observations, predicted: 1, target: 1 });
    assert.equal(pts.length, 5 * 4);
    assert.deepEqual(
      pts.filter((p) => p.t === 10),
      [
        { t: 10, series: "10.201.0.2", connections: 48_000 },
        { t: 10, series: "10.201.0.3", connections: 48_000 },
        { t: 10, series: "10.201.0.4", connections: 48_000 },
        { t: 10, series: "total", connections: 144_000 },
      ],
    );
  });
});
