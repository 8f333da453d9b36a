// The ramp chart: connections over time, one line per server IP plus the total, the plan's
// predicted ceiling as a dashed rule (and the target, when it differs). The spec is pure; the
// SVG comes from vega's headless renderer (no canvas, no browser).
import * as vega from "vega";
import * as vl from "vega-lite";
import { fmt } from "./format.js";
import { perServerIpOf } from "./perIp.js";
import type { Observation } from "./types.js";

export interface ChartInput {
  observations: Observation[];
  predicted: number;
  target: number;
  title?: string;
  /** Server IPs to draw even when they held nothing (the plan's addresses). */
  serverAddresses?: string[];
}

export const TOTAL_SERIES = "total";

interface Point {
  t: number;
  series: string;
  connections: number;
}

export function rampPoints(input: ChartInput): Point[] {
  const points: Point[] = [];
  for (const o of input.observations) {
    if (!o.server) continue;
    for (const [ip, n] of Object.entries(perServerIpOf(o.server, input.serverAddresses))) {
      points.push({ t: o.t, series: ip, connections: n });
    }
    points.push({ t: o.t, series: TOTAL_SERIES, connections: o.server.total });
  }
  return points;
}

const PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#ff9da6", "#9d755d", "#72b7b2", "#eeca3b", "#bab0ac", "#e45756"];

export function rampSpec(input: ChartInput): vl.TopLevelSpec {
  const points = rampPoints(input);
  const ips = [...new Set(points.map((p) => p.series).filter((s) => s !== TOTAL_SERIES))];
  const rules = [{ value: input.predicted, label: `predicted ${fmt(input.predicted)}`, kind: "ceiling" }];
  if (input.target !== input.predicted) rules.push({ value: input.target, label: `target ${fmt(input.target)}`, kind: "target" });
  const y = { field: "value", type: "quantitative", title: "connections" };
  const layers: Record<string, unknown>[] = [];
  if (points.length > 0) {
    layers.push({
      name: "series",
      data: { values: points.map((p) => ({ t: p.t, series: p.series, value: p.connections })) },
      mark: { type: "line", interpolate: "linear", strokeWidth: 2 },
      encoding: {
        x: { field: "t", type: "quantitative", title: "seconds since start" },
        y,
        color: {
          field: "series",
          type: "nominal",
          title: "server IP",
          scale: { domain: [...ips, TOTAL_SERIES], range: [...ips.map((_, i) => PALETTE[i % PALETTE.length]!), "#000000"] },
        },
      },
    });
  } else {
    layers.push({
      name: "nodata",
      data: { values: [{ text: "no server data: /stats never answered" }] },
      mark: { type: "text", fontSize: 14, x: 320, y: 160 },
      encoding: { text: { field: "text" } },
    });
  }
  for (const r of rules) {
    const color = r.kind === "ceiling" ? "#d62728" : "#7f7f7f";
    layers.push({
      name: r.kind,
      data: { values: [r] },
      mark: { type: "rule", strokeDash: r.kind === "ceiling" ? [6, 4] : [2, 2], color, strokeWidth: 1.5, aria: true },
      encoding: { y, description: { field: "label" } },
    });
    layers.push({
      name: `${r.kind}_label`,
      data: { values: [r] },
      mark: { type: "text", align: "left", baseline: "bottom", dx: 4, dy: -3, x: 0, color },
      encoding: { y, text: { field: "label" } },
    });
  }
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: input.title ?? "Connections over time",
    width: 640,
    height: 320,
    background: "white",
    layer: layers,
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
