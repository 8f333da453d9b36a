// report.md: the tables a person reads; and the JSON shape printed on stdout.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diagnose } from "../../workload/verify/diagnose.js";
import { renderMarkdown, testOutput, timeline, type FullReport } from "../../workload/verify/report.js";
import type { Fixture } from "../../workload/verify/types.js";
import { fixtureSettings, loadFixture } from "./verify-fixtures.js";

function reportOf(fx: Fixture): FullReport {
  const d = diagnose(fx.plan, fx.run, { expect: fx.expect, clientsLabel: "c1m-lab.stack=dev" });
  return {
    startedAt: "2025-01-01T00:00:00.000Z",
    finishedAt: "2025-01-01T00:00:30.000Z",
    settings: fixtureSettings(fx),
    output: testOutput(d, "reports/dev/x"),
    diagnosis: d,
    plan: fx.plan,
    timeline: timeline(fx.run.observations, () => null),
  };
}

/** The Markdown table under a "## title" heading, as rows of trimmed cells. */
function tableUnder(md: string, title: string): { header: string[]; separator: string; rows: string[][] } {
  const lines = md.split("\n");
  const start = lines.findIndex((l) => l === `## ${title}`);
  assert.ok(start >= 0, `section ${title}`);
  const first = lines.findIndex((l, i) => i > start && l.startsWith("|"));
  const next = lines.findIndex((l, i) => i > start && l.startsWith("## "));
  assert.ok(first > start && (next < 0 || first < next), `a table in ${title}`);
  const block: string[] = [];
  for (let i = first; i < lines.length && lines[i]!.startsWith("|"); i++) block.push(lines[i]!);
  const cells = (l: string) =>
    l
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
  return { header: cells(block[0]!), separator: block[1]!, rows: block.slice(2).map(cells) };
}

describe("verify report: markdown", () => {
  const md = renderMarkdown(reportOf(loadFixture("three-ips-pass")));

  it("starts with the verdict and the diagnosis", () => {
    assert.match(md, /^# Connection test: dev\n\n\*\*✅ pass\*\* — All 144,000 connections established over 3 server IPs/);
    assert.ok(md.includes("![Connections over time](ramp.svg)"));
  });

  it("renders the summary table", () => {
    const t = tableUnder(md, "Summary");
    assert.deepEqual(t.header, ["", "Value"]);
    assert.match(t.separator, /^\| :-+ \| -+: \|$/);
    const row = (k: string) => t.rows.find((r) => r[0] === k)?.[1];
    assert.equal(row("Verdict"), "pass");
    assert.equal(row("Connections (measured)"), "144,000");
    assert.equal(row("Plan predicted"), "144,000");
    assert.equal(row("Measured / predicted"), "100.0%");
    assert.equal(row("Ramp"), "10 s");
  });

  it("renders one row per server IP, measured vs plan, and a total", () => {
    const t = tableUnder(md, "Per server IP: measured vs plan");
    assert.deepEqual(t.header, [
      "Server IP",
      "Measured",
      "Plan expected",
      "Plan load",
      "Capacity (source ports)",
      "Fill",
      "Δ vs plan",
    ]);
    assert.match(t.separator, /^\| :-+ \|( -+: \|){6}$/);
    assert.deepEqual(
      t.rows.map((r) => r.slice(0, 3)),
      [
        ["10.201.0.2", "48,000", "48,006"],
        ["10.201.0.3", "48,000", "47,997"],
        ["10.201.0.4", "48,000", "47,997"],
        ["**total**", "**144,000**", "**144,000**"],
      ],
    );
    assert.deepEqual(t.rows[0]!.slice(4), ["64,512", "74.4%", "−6"]);
  });

  it("renders one row per client with failures by class", () => {
    const t = tableUnder(md, "Per client");
    assert.deepEqual(t.header, [
      "Client",
      "State",
      "Established",
      "Target",
      "timeout",
      "refused",
      "addrnotavail",
      "reset",
      "emfile",
      "other",
      "Dropped",
      "Restarts",
    ]);
    assert.equal(t.rows.length, 9);
    assert.deepEqual(t.rows[0]!.slice(0, 4), ["c1m-client-0", "running", "16,000", "16,000"]);
    assert.ok(md.includes("Cross-check: server 144,000 vs clients 144,000 (0, tolerance ±1,440): consistent."));
  });

  it("renders conntrack and the shared-source-port proof", () => {
    const ct = tableUnder(md, "Conntrack (NAT host)");
    assert.deepEqual(ct.rows[0], ["nf_conntrack_count", "5", "144,005", "+144,000"]);
    const proof = tableUnder(md, "The proof: source ports shared across server IPs");
    assert.deepEqual(proof.rows, [["10.201.0.1", "46,800", "port 37816 → 10.201.0.2:9000, 10.201.0.3:9000, 10.201.0.4:9000"]]);
    assert.ok(md.includes("The same NAT'd source port 37816 of 10.201.0.1 reaches 10.201.0.2, .3 and .4 at once"));
  });

  it("lists warnings and says when there are no client containers", () => {
    const fx = loadFixture("docker-default-port-range");
    for (const o of fx.run.observations) o.clients = [];
    const text = renderMarkdown(reportOf(fx), null);
    assert.ok(text.includes("_No client containers found._"));
    assert.ok(!text.includes("ramp.svg"));
    const warnings = text.slice(text.indexOf("## Warnings"));
    assert.match(warnings, /^- clients\.localPortRange is docker-default/m);
    assert.match(warnings, /^- no client containers found with label c1m-lab\.stack=dev/m);
  });

  it("escapes pipes in cells", () => {
    const fx = loadFixture("half-open");
    for (const o of fx.run.observations) for (const c of o.clients ?? []) c.name = `a|b-${c.name}`;
    const t = tableUnder(renderMarkdown(reportOf(fx)), "Per client");
    assert.equal(t.rows[0]![0], "a\\|b-c1m-client-0");
    assert.equal(t.rows[0]!.length, 12);
  });
});

describe("verify report: stdout JSON", () => {
  it("has the documented keys and values", () => {
    const out = reportOf(loadFixture("nat-pool-1ip")).output;
    assert.deepEqual(Object.keys(out).sort(), [
      "bindingLimit",
      "ceiling",
      "conntrack",
      "crossCheck",
      "diagnosis",
      "generator",
      "limit",
      "perClient",
      "perServerIp",
      "predicted",
      "rampSeconds",
      "reportDir",
      "rtt",
      "sharedSourcePorts",
      "soak",
      "stopReason",
      "target",
      "total",
      "verdict",
      "warnings",
    ]);
    assert.equal(out.verdict, "plateau-as-expected");
    assert.equal(out.rtt, null, "recorded before clients pinged: no round trips");
    assert.equal(out.generator, null, "recorded before CPU was read");
    assert.deepEqual(out.conntrack, {
      count: 66_515,
      max: 262_144,
      insertFailed: 11_000,
      drop: 0,
      earlyDrop: 0,
      searchRestart: 0,
    });
    assert.deepEqual(Object.keys(out.perClient), [
      "c1m-client-0",
      "c1m-client-1",
      "c1m-client-2",
      "c1m-client-3",
      "c1m-client-4",
    ]);
    assert.deepEqual(out.perClient["c1m-client-0"], {
      established: 12_903,
      failed: { timeout: 275, refused: 0, addrnotavail: 0, reset: 0, emfile: 0, other: 0 },
      failedTotal: 275,
      dropped: 0,
      state: "running",
      exitCode: 0,
      restartCount: 0,
    });
    assert.equal(out.reportDir, "reports/dev/x");
    assert.deepEqual(JSON.parse(JSON.stringify(out)), out, "plain JSON");
  });
});
