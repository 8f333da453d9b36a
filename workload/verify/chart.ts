// The ramp chart, two panels over one time axis: the total with the plan's predicted ceiling as a
// dashed rule (and the target, when it differs); below it, scaled to one IP, the connections per
// server IP: one line each when few, the min–max band and the median at many (54 lines would lie
// flat and need a legend nobody reads). Time starts at the first client container's start when
// known: the containers connect as soon as they start, often before the test's first poll. The
// spec is pure; the SVG comes from vega's headless renderer (no canvas, no browser).
import * as vega from "vega";
import * as vl from "vega-lite";
import { fmt } from "./format.js";
import { ipSpread, perServerIpOf } from "./perIp.js";
import type { Observation } from "./types.js";

export interface ChartInput {
  observations: Observation[];
  predicted: number;
  target: number;
  title?: string;
  /** Server IPs to draw even when they held nothing (the plan's addresses). */
  serverAddresses?: string[];
  /**
   * Seconds from the first client container's start to the test's t = 0; null/absent = unknown
   * (time then counts from the test's start).
   */
  startOffset?: number | null;
}

export const TOTAL_SERIES = "total";
/** Up to this many server IPs get a line each; more are drawn as a band. */
export const MAX_IP_LINES = 8;

interface Point {
  t: number;
  series: string;
  connections: number;
}

const offsetOf = (input: ChartInput) => input.startOffset ?? 0;

/** Per server IP and total, on the chart's time axis, skipping polls without the server's view. */
export function rampPoints(input: ChartInput): Point[] {
  const points: Point[] = [];
  const dt = offsetOf(input);
  for (const o of input.observations) {
    if (!o.server) continue;
    for (const [ip, n] of Object.entries(perServerIpOf(o.server, input.serverAddresses))) {
      points.push({ t: o.t + dt, series: ip, connections: n });
    }
    points.push({ t: o.t + dt, series: TOTAL_SERIES, connections: o.server.total });
  }
  return points;
}

export interface SpreadPoint {
  t: number;
  min: number;
  median: number;
  max: number;
}

/** The spread over the server IPs at each poll (see ipSpread). */
export function spreadPoints(input: ChartInput): SpreadPoint[] {
  const dt = offsetOf(input);
  const out: SpreadPoint[] = [];
  for (const o of input.observations) {
    const s = o.server ? ipSpread(perServerIpOf(o.server, input.serverAddresses)) : null;
    if (s) out.push({ t: o.t + dt, min: s.min, median: s.median, max: s.max });
  }
  return out;
}

/**
 * The first client container's start, as seconds before the test's start: the earliest
 * `startedAt` of any container seen. Null when unknown, in the future, or so long before that
 * the containers were not started for this test (a re-run against a running lab).
 */
export function containerStartOffset(observations: Observation[], testStartMs: number, withinSeconds: number): number | null {
  let first = Infinity;
  for (const o of observations) {
    for (const c of o.clients ?? []) {
      const at = Date.parse(c.startedAt ?? "");
      if (Number.isFinite(at)) first = Math.min(first, at);
    }
  }
  if (!Number.isFinite(first)) return null;
  const offset = (testStartMs - first) / 1000;
  return offset >= 0 && offset <= withinSeconds ? Math.round(offset * 1000) / 1000 : null;
}

const PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#ff9da6", "#9d755d", "#72b7b2", "#eeca3b", "#bab0ac", "#e45756"];
const WIDTH = 640;

export function rampSpec(input: ChartInput): vl.TopLevelSpec {
  const points = rampPoints(input);
  const totals = points.filter((p) => p.series === TOTAL_SERIES).map((p) => ({ t: p.t, value: p.connections }));
  const ips = [...new Set(points.map((p) => p.series).filter((s) => s !== TOTAL_SERIES))];
  const known = input.startOffset !== undefined && input.startOffset !== null;
  const x = {
    field: "t",
    type: "quantitative",
    title: known ? "seconds since the first client container started" : "seconds since the test started",
    scale: { domainMin: 0 },
  };
  const y = { field: "value", type: "quantitative", title: "connections" };

  const top: Record<string, unknown>[] = [];
  if (totals.length > 0) {
    top.push({
      name: "total",
      data: { values: totals.map((p) => ({ ...p, series: TOTAL_SERIES })) },
      mark: { type: "line", interpolate: "linear", strokeWidth: 2, color: "#000000" },
      encoding: { x, y, description: { field: "series" } },
    });
    const first = totals[0]!;
    if (known && first.t > 0 && first.value > 0) {
      // Before the first poll: the containers were already connecting (from 0 at their start).
      top.push({
        name: "unobserved",
        data: { values: [{ t: 0, value: 0 }, first].map((p) => ({ ...p, series: "before the first poll" })) },
        mark: { type: "line", strokeDash: [3, 3], strokeWidth: 1.5, color: "#7f7f7f" },
        encoding: { x, y, description: { field: "series" } },
      });
    }
  } else {
    top.push({
      name: "nodata",
      data: { values: [{ text: "no server data: /stats never answered" }] },
      mark: { type: "text", fontSize: 14, x: WIDTH / 2, y: 120 },
      encoding: { text: { field: "text" } },
    });
  }
  const rules = [{ value: input.predicted, label: `predicted ${fmt(input.predicted)}`, kind: "ceiling" }];
  if (input.target !== input.predicted) rules.push({ value: input.target, label: `target ${fmt(input.target)}`, kind: "target" });
  for (const r of rules) {
    const color = r.kind === "ceiling" ? "#d62728" : "#7f7f7f";
    top.push({
      name: r.kind,
      data: { values: [r] },
      mark: { type: "rule", strokeDash: r.kind === "ceiling" ? [6, 4] : [2, 2], color, strokeWidth: 1.5, aria: true },
      encoding: { y, description: { field: "label" } },
    });
    top.push({
      name: `${r.kind}_label`,
      data: { values: [r] },
      mark: { type: "text", align: "left", baseline: "bottom", dx: 4, dy: -3, x: 0, color },
      encoding: { y, text: { field: "label" } },
    });
  }
  const panels: Record<string, unknown>[] = [{ title: "total", width: WIDTH, height: 260, layer: top }];

  if (totals.length > 0 && ips.length > 0) {
    const perIpY = { ...y, title: "connections per IP" };
    if (ips.length <= MAX_IP_LINES) {
      panels.push({
        title: "per server IP",
        width: WIDTH,
        height: 160,
        layer: [
          {
            name: "series",
            data: {
              values: points
                .filter((p) => p.series !== TOTAL_SERIES)
                .map((p) => ({ t: p.t, series: p.series, value: p.connections })),
            },
            mark: { type: "line", interpolate: "linear", strokeWidth: 1.5 },
            encoding: {
              x,
              y: perIpY,
              color: {
                field: "series",
                type: "nominal",
                title: "server IP",
                scale: { domain: ips, range: ips.map((_, i) => PALETTE[i % PALETTE.length]!) },
              },
            },
          },
        ],
      });
    } else {
      const spread = spreadPoints(input);
      panels.push({
        title: `per server IP (${fmt(ips.length)}): min–max and median`,
        width: WIDTH,
        height: 160,
        layer: [
          {
            name: "spread",
            data: { values: spread.map((p) => ({ ...p, series: "min–max over the server IPs" })) },
            mark: { type: "area", color: "#4c78a8", opacity: 0.3 },
            encoding: { x, y: { ...perIpY, field: "min" }, y2: { field: "max" }, description: { field: "series" } },
          },
          {
            name: "median",
            data: { values: spread.map((p) => ({ t: p.t, value: p.median, series: "median" })) },
            mark: { type: "line", strokeWidth: 1.5, color: "#4c78a8" },
            encoding: { x, y: perIpY, description: { field: "series" } },
          },
        ],
      });
    }
  }

  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: input.title ?? "Connections over time",
    background: "white",
    vconcat: panels,
    resolve: { scale: { x: "shared", y: "independent" } },
  };
  return spec as unknown as vl.TopLevelSpec;
}

export async function renderRampSvg(input: ChartInput): Promise<string> {
  const compiled = vl.compile(rampSpec(input)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
