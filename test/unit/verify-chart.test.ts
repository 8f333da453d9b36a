// The ramp chart: a real SVG (parsed): the total with the predicted ceiling as a rule; per server
// IP a line each when few, a min–max band and the median at many; time from the first client
// container's start when known.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { XMLParser } from "fast-xml-parser";
import { containerStartOffset, rampPoints, renderRampSvg, spreadPoints } from "../../workload/verify/chart.js";
import type { Observation } from "../../workload/verify/types.js";
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

/** The series of each mark with `role`, from vega's aria-label ("...; server IP: 10.201.0.2", or the description: "total"). */
const seriesOf = (tree: unknown, role = "line mark") =>
  elements(tree, "path")
    .filter((p) => p["@_aria-roledescription"] === role)
    .map((p) => String(p["@_aria-label"]))
    .map((label) => /server IP: ([^;]+)/.exec(label)?.[1] ?? label)
    .sort();

const texts = (tree: unknown) => elements(tree, "text").map((t) => String(t["#text"]));

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
    for (const label of [
      "10.201.0.2",
      "10.201.0.3",
      "10.201.0.4",
      "total",
      "per server IP",
      "predicted 144,000",
      "seconds since the test started",
    ])
      assert.ok(texts(tree).includes(label), `legend/label ${label}`);
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

  it("at 54 server IPs draws the total and, scaled to one IP, the min–max band and the median: no line per IP", async () => {
    const ips = Array.from({ length: 54 }, (_, i) => `10.201.6.${i + 2}`);
    // The i-th IP holds 100 + 100·k + i at poll k, but 10.201.6.9 (i = 7) lags by 50.
    const observations: Observation[] = [0, 1, 2].map((k) => {
      const perLocalAddress = Object.fromEntries(ips.map((ip, i) => [`${ip}:9000`, 100 + 100 * k + i - (i === 7 ? 50 : 0)]));
      const server = structuredClone(loadFixture("three-ips-pass").run.observations[0]!.server!);
      server.perLocalAddress = perLocalAddress;
      server.total = Object.values(perLocalAddress).reduce((a, b) => a + b, 0);
      return { t: 2 * k, server, serverError: null, clients: null, clientsError: null, conntrack: null, conntrackError: null };
    });
    const input = { observations, predicted: 10_000, target: 10_000, serverAddresses: ips };
    const tree = parseSvg(await renderRampSvg(input));
    assert.deepEqual(seriesOf(tree), ["median", "total"]);
    assert.deepEqual(seriesOf(tree, "area mark"), ["min–max over the server IPs"]);
    assert.ok(texts(tree).includes("per server IP (54): min–max and median"));
    assert.ok(!texts(tree).includes("10.201.6.2"), "no legend of 54 addresses");
    assert.deepEqual(spreadPoints(input), [
      { t: 0, min: 57, median: 127, max: 153 },
      { t: 2, min: 157, median: 227, max: 253 },
      { t: 4, min: 257, median: 327, max: 353 },
    ]);
  });

  it("starts the time axis at the first client container's start, with the unobserved start dashed", async () => {
    const fx = loadFixture("three-ips-pass");
    const observations = fx.run.observations.slice(2); // the test began at 60,000
    const started = ["2026-12-02T10:00:30.000Z", "2026-12-02T10:00:20.000Z", null];
    observations[0]!.clients!.slice(0, 3).forEach((c, i) => (c.startedAt = started[i] ?? null));
    const testStart = Date.parse("2026-12-02T10:00:32.500Z");
    assert.equal(containerStartOffset(observations, testStart, 120), 12.5);
    assert.equal(containerStartOffset(observations, testStart, 10), null, "started long before: a re-run against a running lab");
    assert.equal(
      containerStartOffset(
        fx.run.observations.slice(0, 1).map((o) => ({ ...o, clients: [] })),
        testStart,
        120,
      ),
      null,
    );

    const input = {
      observations,
      predicted: 144_000,
      target: 144_000,
      serverAddresses: fx.plan.serverAddresses,
      startOffset: 12.5,
    };
    assert.deepEqual(
      rampPoints(input)
        .filter((p) => p.series === "total")
        .map((p) => [p.t, p.connections]),
      [
        [16.5, 60_000],
        [18.5, 90_000],
        [20.5, 120_000],
        [22.5, 144_000],
      ],
    );
    const tree = parseSvg(await renderRampSvg(input));
    assert.deepEqual(seriesOf(tree), ["10.201.0.2", "10.201.0.3", "10.201.0.4", "before the first poll", "total"]);
    assert.ok(texts(tree).includes("seconds since the first client container started"));
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
