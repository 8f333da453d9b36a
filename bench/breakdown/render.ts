// The breakdown as markdown tables (pure): phases, the ramp in windows, CPU over the ramp, and
// the containers' spread.
import type { Breakdown } from "./analyze.js";

const s = (x: number | null): string => (x === null ? "–" : `${x.toFixed(1)} s`);
const n = (x: number | null): string => (x === null ? "–" : x.toLocaleString("en-US"));
const c = (x: number): string => x.toFixed(2);

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join(
    "\n",
  );
}

function quantiles(xs: number[]): string {
  if (xs.length === 0) return "–";
  const v = [...xs].sort((a, b) => a - b);
  const q = (p: number) => v[Math.min(v.length - 1, Math.floor(p * v.length))]!;
  return `${q(0).toFixed(1)} / ${q(0.5).toFixed(1)} / ${v[v.length - 1]!.toFixed(1)} s`;
}

export function renderBreakdown(b: Breakdown): string {
  const p = b.phases;
  const out: string[] = [];
  out.push(
    table(
      [
        "first container created",
        "first started",
        "last started",
        "first connection",
        `target ${n(b.target)} held`,
        "whole ramp",
        "`up` done",
      ],
      [
        [
          s(p.firstCreated),
          s(p.firstStarted),
          s(p.lastStarted),
          s(p.firstConnection),
          s(p.targetReached),
          s(p.wholeRamp),
          s(p.upDone),
        ],
      ],
    ),
  );
  if (b.rampCpu && b.rampTotals) {
    const cs = b.rampCpu.coreSeconds;
    out.push(
      "",
      `CPU over the whole ramp (core-seconds; the machine was ${(b.rampCpu.busyShare * 100).toFixed(0)}% busy), and the ramp's drops:`,
      "",
      table(
        [
          "server",
          "clients",
          "docker",
          "engine",
          "steps",
          "softirq",
          "kernel threads",
          "other",
          "ListenDrops",
          "ListenOverflows",
          "client SYN retransmits",
          "conntrack insert_failed",
        ],
        [
          [cs.server, cs.clients, cs.docker, cs.engine, cs.steps, cs.softirq, cs.kernel, cs.other]
            .map(String)
            .concat(
              [b.rampTotals.listenDrops, b.rampTotals.listenOverflows, b.rampTotals.synRetrans, b.rampTotals.insertFailed].map(n),
            ),
        ],
      ),
    );
  }
  out.push(
    "",
    "The ramp in windows (cores: average over the window; counters: the window's increase):",
    "",
    table(
      [
        "t",
        "held",
        "conn/s",
        "containers",
        "server",
        "clients",
        "docker",
        "engine",
        "steps",
        "kernel threads",
        "other",
        "softirq",
        "idle",
        "ListenDrops",
        "SYN retrans",
        "insert_failed",
      ],
      b.windows.map((w) => [
        `${w.from}–${w.to} s`,
        n(w.total),
        n(w.connectsPerSecond),
        String(w.containers),
        c(w.cores.server),
        c(w.cores.clients),
        c(w.cores.docker),
        c(w.cores.engine),
        c(w.cores.steps),
        c(w.cores.kernel),
        c(w.cores.other),
        c(w.cores.softirq),
        c(w.cores.idle),
        n(w.listenDrops),
        n(w.synRetrans),
        n(w.insertFailed),
      ]),
    ),
  );
  const rows = b.containers;
  out.push(
    "",
    `Containers (${rows.length}; min / median / max): created → started ${quantiles(rows.flatMap((r) => (r.startDelay === null ? [] : [r.startDelay])))}, ` +
      `started → first connection ${quantiles(rows.flatMap((r) => (r.firstConnectAfterStart === null ? [] : [r.firstConnectAfterStart])))}, ` +
      `own ramp ${quantiles(rows.flatMap((r) => (r.rampSeconds === null ? [] : [r.rampSeconds])))}, ` +
      `target reached at ${quantiles(rows.flatMap((r) => (r.reachedAt === null ? [] : [r.reachedAt])))} into the run.`,
  );
  return out.join("\n");
}
