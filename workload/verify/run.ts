// The connection test in-process: observe until the ramp ends, judge, write the report.
// `workload/verify.ts` is only the command line around this; an end-to-end test or a benchmark
// calls runConnectionTest directly (with fakes for the clock and the poller if it wants).
import { mkdir, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { crossCheckTolerance, diagnose, perServerIpOf, type Diagnosis } from "./diagnose.js";
import { startDashboard, type Dashboard, type DashboardOptions } from "./dashboard.js";
import { initialState, withObservation, withVerdict, type DashboardState } from "./dashboardState.js";
import { progressLine } from "./progress.js";
import { withHoldChecks } from "./holdChecks.js";
import { createObserver, statsUrl, type ObserverOptions } from "./observe.js";
import { renderMarkdown, testOutput, timeline, type FullReport, type TestOutput, type TestSettings } from "./report.js";
import type { Observation, VerifyPlan } from "./types.js";
import { waitForRamp, type Clock, type Phase, type Poll } from "./wait.js";
import { openSshTunnel, type SshAuth, type SshTarget, type SshTunnel } from "./sshTunnel.js";
import { forwardTarget, metricsWhere, throughTunnel, withTunnelErrors } from "./remoteMetrics.js";
import { hostShares, type ClientHostTarget } from "./hosts.js";
import { createHostsObserver, type HostsObserver } from "./hostsObserver.js";
import { withHosts } from "./hostDiagnosis.js";
import type { FindLimitSettings } from "./findLimit/settings.js";
import { judged, steppedRun, type Stepped } from "./findLimit/stepped.js";
import { findLimitOutput } from "./findLimit/text.js";
import { signalClients } from "./findLimit/signal.js";
import { DEFAULT_MAX_RECOVERY_SECONDS, type TestScenario } from "../../shared/protocol.js";
import { afterHold, type AfterHold } from "./scenarios/afterHold.js";
import type { Restart } from "./scenarios/reconnectStorm.js";
import { withStorm } from "./scenarios/stormVerdict.js";
import { withFlush } from "./scenarios/flushVerdict.js";
import type { LabEntries } from "./scenarios/conntrackTool.js";

export interface ConnectionTestOptions extends TestSettings {
  plan: VerifyPlan;
  /** Serve the live dashboard while the test runs; null/absent = none. */
  dashboard?: DashboardOptions | null;
  /** Parent of `<stack>/<timestamp>/`; null = write no files. */
  reportsDir: string | null;
  /** See WaitOptions.minProgress. */
  minProgress?: number;
  /** The metrics listen on a VM's loopback: read them through ssh to this host (metricsUrl is the URL there). */
  metricsSsh?: SshTarget | null;
  /** Bound on the hold's p99 round trip in ms (test.maxRttMs); null/absent = none. */
  maxRttMs?: number | null;
  /** Several client hosts: each one's Docker (and conntrack) is read; absent = this machine's Docker (DOCKER_HOST). */
  clientHosts?: ClientHostTarget[];
  /** test.mode find-limit: step the clients up and find the capacity; null/absent = hold. */
  findLimit?: FindLimitSettings | null;
  /** What follows the hold (test.scenario; default hold). */
  scenario?: TestScenario;
  /** reconnect-storm: every connection back within this many seconds of the restart. */
  maxRecoverySeconds?: number;
  /** reconnect-storm: the server's restart script (bash text, from C1M_RESTART_SCRIPT). */
  restartScript?: string | null;
  /** conntrack-flush: the lab's client subnets (--flush-sources). */
  flushSources?: string[];
}

export interface ConnectionTestDeps {
  /** Replaces the real observer (/stats, docker, conntrack). */
  poll?: Poll;
  /** Extra settings for the real observer (docker binary, /proc root, timeouts). */
  observer?: Partial<ObserverOptions>;
  clock?: Clock;
  /** Progress lines (default: stderr). */
  progress?: (line: string) => void;
  /** Wall clock for the report's timestamps. */
  now?: () => Date;
  /** How the tunnel to metricsSsh logs in (default: none; verify.ts passes the key or the agent). */
  sshAuth?: SshAuth;
  /** find-limit's next step (default: the step signal to the labelled containers). */
  nextStep?: () => Promise<string | null>;
  /** Replaces running the restart script (a reconnect storm). */
  restart?: Restart;
  /** Replaces this machine's conntrack tool (a conntrack flush). */
  labEntries?: LabEntries;
}

export interface ConnectionTestResult {
  output: TestOutput;
  report: FullReport;
  diagnosis: Diagnosis;
  files: { json: string; md: string; svg: string | null } | null;
  /** The live dashboard, closing itself after its linger (null when off or it could not start). */
  dashboard: Dashboard | null;
}

export async function runConnectionTest(
  options: ConnectionTestOptions,
  deps: ConnectionTestDeps = {},
): Promise<ConnectionTestResult> {
  const now = deps.now ?? (() => new Date());
  const progress = deps.progress ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const startedAt = now();
  // A refused host key or login throws here, before the dashboard or any poll.
  const tunnel: SshTunnel | null =
    !deps.poll && options.metricsSsh
      ? await openSshTunnel(options.metricsSsh, forwardTarget(options.metricsUrl), deps.sshAuth ?? {})
      : null;
  if (tunnel && options.metricsSsh) {
    progress(
      `verify: metrics ${options.metricsUrl} on ${options.metricsSsh.user}@${options.metricsSsh.host} through ssh (${tunnel.url})`,
    );
  }
  const url = tunnel ? throughTunnel(options.metricsUrl, tunnel.url) : options.metricsUrl;
  const hosts = deps.poll ? null : openHostsObserver(options, deps, url);
  const observed =
    hosts?.poll ??
    createObserver({ metricsUrl: url, clientsLabel: options.clientsLabel, conntrack: options.conntrack, ...deps.observer });
  const poll = deps.poll ?? (tunnel ? withTunnelErrors(observed, tunnel.lastError) : observed);

  let state = initialState(options.stack, options.plan, options.dashboard?.lingerSeconds ?? 0);
  const dashboard = options.dashboard ? await openDashboard(options.dashboard, state, progress) : null;
  try {
    const result = await observeAndJudge(options, {
      poll,
      now,
      startedAt,
      progress,
      nextStep: deps.nextStep ?? hosts?.nextStep ?? (() => signalClients(options.clientsLabel ?? "")),
      ...(deps.clock ? { clock: deps.clock } : {}),
      ...(deps.restart ? { restart: deps.restart } : {}),
      ...(deps.labEntries ? { labEntries: deps.labEntries } : {}),
      onObservation: (o, first, phase) => {
        if (dashboard) dashboard.update((state = withObservation(state, o, first, phase)));
      },
    });
    dashboard?.finish(withVerdict(state, result.output));
    return { ...result, dashboard };
  } catch (err) {
    // Never leave a listening dashboard behind: it would keep the process alive.
    await dashboard?.close();
    throw err;
  } finally {
    await tunnel?.close();
    hosts?.close();
  }
}

/** With several client hosts: an observer of each (its Docker over ssh where it is remote); the run closes it. */
function openHostsObserver(options: ConnectionTestOptions, deps: ConnectionTestDeps, metricsUrl: string): HostsObserver | null {
  const { clientHosts, clientsLabel } = options;
  if (!clientHosts || clientHosts.length === 0 || clientsLabel === null) return null;
  const agent = deps.sshAuth?.agent ?? process.env.SSH_AUTH_SOCK;
  const { fetchTimeoutMs, dockerTimeoutMs } = deps.observer ?? {};
  return createHostsObserver({
    metricsUrl,
    clientsLabel,
    hosts: clientHosts,
    shares: hostShares(options.plan),
    conntrack: options.conntrack,
    ...(agent ? { agent } : {}),
    ...(fetchTimeoutMs !== undefined ? { fetchTimeoutMs } : {}),
    ...(dockerTimeoutMs !== undefined ? { dockerTimeoutMs } : {}),
  });
}

interface RunIo {
  poll: Poll;
  clock?: Clock;
  now: () => Date;
  startedAt: Date;
  progress: (line: string) => void;
  nextStep: () => Promise<string | null>;
  restart?: Restart;
  labEntries?: LabEntries;
  /** Each poll, with the run's first (the base of cumulative counters). */
  onObservation: (o: Observation, first: Observation, phase: Phase) => void;
}

/** The test without the dashboard: wait for the ramp, judge, write the report. */
async function observeAndJudge(options: ConnectionTestOptions, io: RunIo): Promise<Omit<ConnectionTestResult, "dashboard">> {
  const { poll, now, startedAt, progress, onObservation } = io;
  let first: Observation | null = null;
  let prev: Observation | null = null;
  const onPoll = (o: Observation, target: number, phase: Phase) => {
    progress(progressLine(o, prev, target, phase));
    if (o.server) prev = o;
    first ??= o;
    onObservation(o, first, phase);
  };
  const stepped = options.findLimit ? await steps(options, options.findLimit, io, onPoll) : null;
  const run =
    stepped?.run ??
    (await waitForRamp(
      {
        target: options.plan.target,
        timeoutSeconds: options.timeoutSeconds,
        stallSeconds: options.stallSeconds,
        soakSeconds: options.soakSeconds,
        intervalSeconds: options.intervalSeconds,
        ...(options.minProgress !== undefined ? { minProgress: options.minProgress } : {}),
        settleSeconds: settleSeconds(options.intervalSeconds),
      },
      {
        poll,
        settled: viewsAgree,
        ...(io.clock ? { clock: io.clock } : {}),
        onObservation: (o, phase) => onPoll(o, options.plan.target, phase),
      },
    ));

  const counted = withHosts(
    diagnose(stepped?.plan ?? options.plan, run, {
      expect: options.expect,
      metricsUrl: metricsWhere(statsUrl(options.metricsUrl), options.metricsSsh),
      clientsLabel: options.clientsLabel,
    }),
    hostShares(options.plan),
    run,
  );
  // find-limit bounds each step's round trips itself; a scenario after the hold is the hold mode's.
  const held = withHoldChecks(stepped ? judged(counted, stepped) : counted, run, {
    maxRttMs: stepped ? null : (options.maxRttMs ?? null),
  });
  const after = stepped
    ? null
    : await afterHold(
        {
          scenario: options.scenario ?? "hold",
          target: options.plan.target,
          maxRecoverySeconds: options.maxRecoverySeconds ?? DEFAULT_MAX_RECOVERY_SECONDS,
          intervalSeconds: options.intervalSeconds,
          restartScript: options.restartScript ?? null,
          flushSources: options.flushSources ?? [],
        },
        io,
        run,
      );
  const diagnosis = after === null ? held : afterHoldJudged(held, after);
  const finishedAt = now();

  let dir: string | null = null;
  if (options.reportsDir !== null) dir = await makeReportDir(join(options.reportsDir, options.stack), startedAt);
  const output = { ...testOutput(diagnosis, dir), ...(stepped ? findLimitOutput(stepped.result) : {}) };
  const { plan } = options;
  const report: FullReport = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    settings: {
      stack: options.stack,
      metricsUrl: options.metricsUrl,
      clientsLabel: options.clientsLabel,
      conntrack: options.conntrack,
      expect: options.expect,
      timeoutSeconds: options.timeoutSeconds,
      stallSeconds: options.stallSeconds,
      soakSeconds: options.soakSeconds,
      intervalSeconds: options.intervalSeconds,
    },
    output,
    diagnosis,
    plan: {
      strategy: plan.strategy,
      target: plan.target,
      predicted: plan.predicted,
      ceiling: plan.ceiling,
      bindingLimit: plan.bindingLimit,
      losses: plan.losses,
      serverAddresses: plan.serverAddresses,
      serverPort: plan.serverPort,
      clientSources: plan.clientSources,
      natPool: plan.natPool,
      containerPortRange: plan.containerPortRange,
      paths: plan.paths,
      explanation: plan.explanation,
      warnings: plan.warnings,
    },
    ...(stepped ? { findLimit: stepped.result } : {}),
    timeline: timeline(run.observations, (o) => (o.server ? perServerIpOf(o.server, plan.serverAddresses) : null)),
  };

  let files: ConnectionTestResult["files"] = null;
  if (dir !== null) {
    let svgFile: string | null = join(dir, "ramp.svg");
    try {
      // Loaded on demand: vega is the slow part of starting up.
      const { containerStartOffset, renderRampSvg } = await import("./chart.js");
      const svg = await renderRampSvg({
        observations: run.observations,
        predicted: plan.predicted,
        target: plan.target,
        serverAddresses: plan.serverAddresses,
        // Containers started more than a ramp window before the test were not started for it.
        startOffset: containerStartOffset(run.observations, startedAt.getTime(), options.timeoutSeconds),
        title: `${options.stack}: connections over time (${diagnosis.verdict})`,
      });
      await writeFile(svgFile, svg);
    } catch (err) {
      diagnosis.warnings.push(`ramp.svg not rendered: ${(err as Error).message}`);
      svgFile = null;
    }
    const jsonFile = join(dir, "report.json");
    const mdFile = join(dir, "report.md");
    await writeFile(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(mdFile, renderMarkdown(report, svgFile ? "ramp.svg" : null));
    files = { json: jsonFile, md: mdFile, svg: svgFile };
  }
  return { output, report, diagnosis, files };
}

/** The hold's diagnosis with the scenario after it judged. */
function afterHoldJudged(held: Diagnosis, after: AfterHold): Diagnosis {
  if (after.conntrackFlush !== undefined) return withFlush(held, after.conntrackFlush, after.notRun);
  return withStorm(held, after.storm ?? null, after.notRun);
}

/** find-limit's stepping, each poll through `onPoll` as the ramp's are. */
function steps(
  options: ConnectionTestOptions,
  settings: FindLimitSettings,
  io: RunIo,
  onPoll: (o: Observation, target: number, phase: Phase) => void,
): Promise<Stepped> {
  const { plan, timeoutSeconds, stallSeconds, intervalSeconds } = options;
  return steppedRun(
    { plan, settings, timeoutSeconds, stallSeconds, intervalSeconds },
    {
      poll: io.poll,
      nextStep: io.nextStep,
      progress: io.progress,
      onObservation: (o, target) => onPoll(o, target, "ramp"),
      ...(io.clock ? { clock: io.clock } : {}),
    },
  );
}

/**
 * Starts the dashboard and prints its address. A taken port falls back to any free one; a
 * dashboard that cannot start at all is reported and skipped (it never fails the test).
 */
async function openDashboard(
  options: DashboardOptions,
  state: DashboardState,
  progress: (line: string) => void,
): Promise<Dashboard | null> {
  let dashboard: Dashboard | null = null;
  try {
    dashboard = await startDashboard(options, state);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE" && options.port !== 0) {
      progress(`verify: dashboard port ${options.port} is taken; using a free one`);
      dashboard = await startDashboard({ ...options, port: 0 }, state).catch(() => null);
    } else {
      progress(`verify: no dashboard (${(err as Error).message})`);
    }
  }
  if (dashboard) progress(`verify: live dashboard at ${dashboard.url} (up until ${options.lingerSeconds} s after the verdict)`);
  return dashboard;
}

/**
 * After the target, how long to keep polling for the clients' view to catch up with the
 * server's: their status lines are printed once a second and read a poll later.
 */
export function settleSeconds(intervalSeconds: number): number {
  return Math.max(3, 2 * intervalSeconds);
}

/** The server's total and the clients' sum agree within the cross-check tolerance (or there is nothing to compare). */
export function viewsAgree(o: Observation): boolean {
  if (!o.server || !o.clients || o.clients.length === 0) return true;
  if (o.clients.some((c) => c.state === "running" && c.status === null)) return false;
  const sum = o.clients.reduce((a, c) => a + (c.status?.established ?? 0), 0);
  return Math.abs(o.server.total - sum) <= crossCheckTolerance(Math.max(o.server.total, sum));
}

/** "2024-05-01T12-30-05Z": sortable and safe in file names. */
export function timestampDirName(d: Date): string {
  return d
    .toISOString()
    .replace(/\.\d+Z$/, "Z")
    .replace(/:/g, "-");
}

async function makeReportDir(parent: string, at: Date): Promise<string> {
  await mkdir(parent, { recursive: true });
  const base = join(parent, timestampDirName(at));
  for (let i = 1; i <= 100; i++) {
    const dir = i === 1 ? base : `${base}-${i}`;
    try {
      await mkdir(dir);
      // Its real path: the report's place whatever links the run went through (the engine's work directory's reports/).
      return await realpath(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  throw new Error(`cannot create a report directory under ${parent}`);
}
