// npm run bench:scale -- --connections N: the lab's own steps without the engine (the million
// stack scaled to N), then the connection test, then the figures: ramp time, connections/s,
// memory per connection (server RSS, client RSS, kernel Slab, MemAvailable drop), conntrack
// count and the verdict. Bounded in time; always tears the lab down.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_MAX_RECOVERY_SECONDS, RESTART_SCRIPT_ENV } from "../shared/protocol.js";
import { labUp } from "../infra/direct/runner.js";
import { runConnectionTest } from "../workload/verify/run.js";
import { parseListen } from "../workload/verify/args.js";
import { wrap } from "../workload/verify/format.js";
import { PROGRESS_WIDTH } from "../workload/verify/progress.js";
import { UsageError, parseFlags } from "../workload/cliArgs.js";
import { SCALED_LAB_FLAGS, guardLab, intFlag, meminfo, root, runScaledBench, scaleRequestOf, scaledLab } from "./scaledLab.js";

const usage = `usage: npm run bench:scale -- --connections N [--per-container M (default: the stack's)] [--server-ips K] [--soak-seconds 60]
                       [--timeout-seconds (the stack's)] [--base-image IMAGE] [--stack million]
                       [--min-available-mib 1536] [--dashboard [HOST:]PORT] [--storm full|none [--max-recovery-seconds S]]
  Runs the stack's lab (scaled to N connections) without the Pulumi engine, measures, tears down.
  --server-ips  default: the stack's connections per address (million: 18,519, one worker each), NAT ≤ 90% full
  --base-image  default: a local image of this machine's node (no registry needed)
  --min-available-mib  abort (and tear down) if MemAvailable falls below this
  --dashboard   [HOST:]PORT: serve the live dashboard of the ramp there (loopback unless told; 0 = any free port)
  --storm       after the soak, restart the server under load (test.scenario reconnect-storm) with clients.reconnect.jitter full or none`;

/** Summed RSS (bytes) of these pids and every descendant. */
function rssOfTrees(pids: number[]): number {
  const out = execFileSync("ps", ["-e", "-o", "pid=,ppid=,rss="], { encoding: "utf8" });
  const rows = out
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number, number]);
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of rows) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const rss = new Map(rows.map(([pid, , r]) => [pid, r * 1024]));
  let total = 0;
  const stack = [...pids];
  while (stack.length) {
    const pid = stack.pop()!;
    total += rss.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

const kb = (bytes: number, n: number) => (n > 0 ? (bytes / n / 1024).toFixed(2) : "-");

async function main(): Promise<number> {
  const values = parseFlags(process.argv.slice(2), {
    ...SCALED_LAB_FLAGS,
    "soak-seconds": { type: "string", default: "60" },
    dashboard: { type: "string" },
    storm: { type: "string" },
    "max-recovery-seconds": { type: "string" },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const request = scaleRequestOf(values);
  const soakSeconds = intFlag(values, "soak-seconds", 0)!;
  // --storm full|none: test.scenario reconnect-storm after the soak, with that jitter.
  const storm = values.storm;
  if (storm !== undefined && storm !== "full" && storm !== "none") throw new UsageError(`--storm: full or none, got "${storm}"`);
  const maxRecoverySeconds = intFlag(values, "max-recovery-seconds", 1);
  const lab = scaledLab({
    ...request,
    ...(storm ? { jitter: storm } : {}),
    test: {
      soakSeconds,
      ...request.test,
      ...(storm ? { scenario: "reconnect-storm", ...(maxRecoverySeconds ? { maxRecoverySeconds } : {}) } : {}),
    },
  });
  const { config, plan, steps, stack, containers, serverIps, log } = lab;
  const teardown = guardLab(lab, { boundSeconds: config.test.timeoutSeconds + config.test.soakSeconds + 600 });

  try {
    const before = meminfo();
    const upStarted = Date.now();
    labUp(steps, { log });
    const upSeconds = (Date.now() - upStarted) / 1000;
    const testStarted = Date.now();
    const { output, report } = await runConnectionTest({
      plan,
      stack,
      metricsUrl: steps.metricsUrl,
      clientsLabel: `c1m-lab.stack=${stack}`,
      conntrack: "local",
      expect: config.test.expect,
      timeoutSeconds: config.test.timeoutSeconds,
      stallSeconds: config.test.stallSeconds,
      soakSeconds: config.test.soakSeconds,
      intervalSeconds: 2,
      scenario: config.test.scenario,
      maxRecoverySeconds: config.test.maxRecoverySeconds ?? DEFAULT_MAX_RECOVERY_SECONDS,
      restartScript: steps.verifyEnv?.[RESTART_SCRIPT_ENV] ?? null,
      reportsDir: `${root}/reports`,
      dashboard: values.dashboard === undefined ? null : { ...parseListen(values.dashboard), lingerSeconds: 5 },
    });
    const after = meminfo();
    const total = output.total ?? 0;
    const serverPid = Number(readFileSync(`${steps.server.stateDir}/server.pid`, "utf8").trim());
    const inspected = execFileSync(
      "docker",
      ["inspect", "-f", "{{.State.Pid}} {{.State.StartedAt}}", ...steps.containers.map((c) => c.name)],
      { encoding: "utf8" },
    )
      .trim()
      .split("\n")
      .map((l) => l.split(" "));
    const clientPids = inspected.map(([pid]) => Number(pid)).filter((p) => p > 0);
    // The containers connect as soon as they start, while the rest are still being created: the
    // whole ramp runs from the first container's start to the moment the test saw the target.
    const firstStart = Math.min(...inspected.map(([, startedAt]) => Date.parse(startedAt ?? "")).filter(Number.isFinite));
    const serverRss = rssOfTrees([serverPid]);
    const clientRss = rssOfTrees(clientPids);
    const slab = after.Slab! - before.Slab!;
    const available = before.MemAvailable! - after.MemAvailable!;
    const conntrack = Number(readFileSync("/proc/sys/net/netfilter/nf_conntrack_count", "utf8"));
    const ramp = output.rampSeconds ?? null;
    const wholeRamp =
      ramp === null || !Number.isFinite(firstStart) ? null : Number(((testStarted + ramp * 1000 - firstStart) / 1000).toFixed(1));
    const figures = {
      connections: total,
      target: plan.target,
      verdict: output.verdict,
      diagnosis: output.diagnosis,
      upSeconds: Number(upSeconds.toFixed(1)),
      rampSeconds: ramp,
      wholeRampSeconds: wholeRamp,
      connectionsPerSecond: wholeRamp ? Math.round(total / wholeRamp) : null,
      serverRssKbPerConnection: Number(kb(serverRss, total)),
      clientRssKbPerConnection: Number(kb(clientRss, total)),
      slabKbPerConnection: Number(kb(slab, total)),
      memAvailableDropKbPerConnection: Number(kb(available, total)),
      serverWorkers: plan.serverWorkers,
      containers,
      serverIps,
      conntrackCount: conntrack,
      soakSeconds: config.test.soakSeconds,
      reportDir: output.reportDir,
      storm: report.diagnosis.storm ?? null,
    };
    const rows: [string, string][] = [
      ["connections", `${total.toLocaleString("en-US")} of ${plan.target.toLocaleString("en-US")}`],
      ["verdict", output.verdict],
      ["lab up (image, containers)", `${figures.upSeconds} s`],
      [
        "whole ramp (first client start → target)",
        wholeRamp === null ? "-" : `${wholeRamp} s (${figures.connectionsPerSecond?.toLocaleString("en-US")} connections/s)`,
      ],
      ["ramp after lab up (the test's)", ramp === null ? "-" : `${ramp} s`],
      ["server RSS / connection", `${figures.serverRssKbPerConnection} KB (${plan.serverWorkers} workers)`],
      ["client RSS / connection", `${figures.clientRssKbPerConnection} KB (${containers} containers)`],
      ["kernel Slab / connection", `${figures.slabKbPerConnection} KB`],
      ["MemAvailable drop / connection", `${figures.memAvailableDropKbPerConnection} KB`],
      ["conntrack entries", conntrack.toLocaleString("en-US")],
      ["soak", `${config.test.soakSeconds} s`],
    ];
    const st = figures.storm;
    if (st) {
      const k = st.kernel;
      rows.push([
        `reconnect storm (jitter ${storm})`,
        `restart ${st.restartSeconds ?? "-"} s, all back after ${st.recoverySeconds ?? "-"} s (±${st.resolutionSeconds} s), ` +
          `lost ${st.lostForGood.toLocaleString("en-US")}, peak ${st.peakHandshakesPerSecond?.toLocaleString("en-US") ?? "-"} handshakes/s, ` +
          `ListenDrops +${k?.listenDrops ?? "-"}, ListenOverflows +${k?.listenOverflows ?? "-"}`,
      ]);
    }
    // The figures as JSON go to a file: on stdout, one line of them (with the diagnosis) would
    // be far wider than a terminal.
    const figuresFile = output.reportDir ? join(output.reportDir, "bench.json") : null;
    if (figuresFile) writeFileSync(figuresFile, `${JSON.stringify(figures, null, 2)}\n`);
    rows.push(["figures (JSON)", figuresFile ?? "-"]);
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n"));
    const pad = " ".repeat(width + 2);
    const diagnosis = wrap(output.diagnosis, PROGRESS_WIDTH - pad.length);
    console.log(diagnosis.map((l, i) => `${i === 0 ? "diagnosis".padEnd(width + 2) : pad}${l}`).join("\n"));
    return output.verdict === "fail" ? 1 : 0;
  } finally {
    teardown();
  }
}

runScaledBench("bench:scale", usage, main);
