// The connection test's command line → options (validated; UsageError → exit code 2).
import { readFileSync } from "node:fs";
import { z } from "zod";
import { UsageError, parseFlags, parseNumberOption } from "../cliArgs.js";
import type { ConnectionTestOptions } from "./run.js";
import { planSchema, type VerifyPlan } from "./types.js";
import type { SshTarget } from "./sshTunnel.js";
import { CLIENT_HOST_OPTIONS, CLIENT_HOST_USAGE, parseClientHosts } from "./hostArgs.js";
import { FIND_LIMIT_OPTIONS, FIND_LIMIT_USAGE, parseFindLimit } from "./findLimit/args.js";
import { DEFAULT_MAX_RECOVERY_SECONDS, RESTART_SCRIPT_ENV, TEST_SCENARIOS } from "../../shared/protocol.js";
import { parseFlushSources } from "./scenarios/flushSources.js";

export const VERIFY_USAGE = `Usage: node dist/workload/verify.js --plan FILE --metrics-url URL [options]

Waits for the lab's connections to ramp up (or plateau), joins the server's, the clients' and
conntrack's view, compares with the capacity plan and explains the result. Progress goes to
stderr; the result JSON (the stack outputs) to stdout. Exit 0 = pass or plateau-as-expected,
1 = fail (report still written, diagnosis on stderr), 2 = bad arguments.

  --plan FILE              CapacityPlan JSON (or env C1M_PLAN holding the JSON text)
  --metrics-url URL        the server's metrics endpoint, e.g. http://10.201.0.2:9100 (GET /stats);
                           with --metrics-ssh, as seen on that host (e.g. http://127.0.0.1:9100)
  --metrics-ssh USER@HOST[:PORT]
                           reach the metrics through an ssh tunnel to HOST (port 22 unless given),
                           logging in with the key in $C1M_SSH_PRIVATE_KEY, else the ssh-agent
                           at $SSH_AUTH_SOCK
  --metrics-ssh-host-key KEY
                           with --metrics-ssh (required): the host's public key, 'ssh-ed25519 AAAA...';
                           a host presenting another key is refused
  --clients-label LABEL    docker label of the client containers, e.g. c1m-lab.stack=dev
                           (omit, or no container has it: judged on the server view alone,
                           with a warning, not a failure; DOCKER_HOST is honoured)
${CLIENT_HOST_USAGE}  --conntrack MODE         local (this machine is the NAT host; default) or none
  --expect MODE            all (every connection must connect; default) or plateau (the wall is the point)
  --timeout-seconds N      give up on the ramp after N s (default 120)
  --stall-seconds N        no progress for N s = plateau (default 10)
  --soak-seconds N         after reaching the target, hold N s and check nothing is lost (default 0)
  --interval-seconds N     poll every N s (default 2)
  --max-rtt-ms N           fail when the hold's p99 ping round trip (the clients' merged histograms)
                           is above N ms, or more than 1% of its pings got no echo (default: no bound)
${FIND_LIMIT_USAGE}  --scenario S             after the hold: hold (nothing more; default) or reconnect-storm (restart the
                           server with the bash script in $C1M_RESTART_SCRIPT, measure the clients'
                           way back; the clients must reconnect: C1M_RECONNECT=1)
                           conntrack-flush (delete this machine's conntrack entries from the
                           --flush-sources subnets, watch what the held connections do)
  --max-recovery-seconds N with reconnect-storm: fail unless every connection is back within N s of
                           the restart; with conntrack-flush: of the delete (default ${DEFAULT_MAX_RECOVERY_SECONDS})
  --flush-sources CIDR[,CIDR...]
                           with conntrack-flush (required): the lab's client subnets (/8 or longer)
  --stack NAME             stack name for the report path (default local)
  --reports-dir DIR        reports go to DIR/<stack>/<timestamp>/ (default reports)
  --dashboard [HOST:]PORT  serve a live dashboard of the ramp on HOST (default 127.0.0.1) and PORT
                           (0 = any free port) while the test runs; the address goes to stderr.
                           It has no authentication: another HOST than loopback (e.g. 0.0.0.0)
                           makes it reachable from other machines (warned on stderr)
  --dashboard-linger-seconds N
                           after the verdict, keep the dashboard up N s more (default 5)
  --help                   this text
`;

const OPTIONS = {
  plan: { type: "string" },
  "metrics-url": { type: "string" },
  "metrics-ssh": { type: "string" },
  "metrics-ssh-host-key": { type: "string" },
  "clients-label": { type: "string" },
  conntrack: { type: "string" },
  expect: { type: "string" },
  "timeout-seconds": { type: "string" },
  "stall-seconds": { type: "string" },
  "soak-seconds": { type: "string" },
  "interval-seconds": { type: "string" },
  "max-rtt-ms": { type: "string" },
  scenario: { type: "string" },
  "max-recovery-seconds": { type: "string" },
  "flush-sources": { type: "string" },
  stack: { type: "string" },
  "reports-dir": { type: "string" },
  dashboard: { type: "string" },
  "dashboard-linger-seconds": { type: "string" },
  help: { type: "boolean" },
  ...CLIENT_HOST_OPTIONS,
  ...FIND_LIMIT_OPTIONS,
} as const;

export type ParsedArgs = { help: true } | { help: false; options: ConnectionTestOptions };

function oneOf<T extends string>(flag: string, raw: string | undefined, valid: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if ((valid as readonly string[]).includes(raw)) return raw as T;
  throw new UsageError(`--${flag}: expected one of ${valid.join(", ")}, got "${raw}"`);
}

/** Seconds, at least `min`. */
function duration(flag: string, raw: string | undefined, fallback: number, min: number): number {
  return raw === undefined ? fallback : parseNumberOption(`--${flag}`, raw, { min });
}

/** "9180" / "127.0.0.1:9180" / "0.0.0.0:0" → where the dashboard listens (loopback unless told). */
export function parseListen(raw: string): { host: string; port: number } {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost):)?(\d{1,5})$/.exec(raw);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new UsageError(`--dashboard: expected [HOST:]PORT like 9180 or 127.0.0.1:9180, got "${raw}"`);
  return { host: (m[1] ?? "127.0.0.1").replace(/^\[|\]$/g, ""), port };
}

/** "user@host[:port]" and the pinned host key → the ssh target (null without --metrics-ssh). */
export function parseMetricsSsh(raw: string | undefined, hostKey: string | undefined): SshTarget | null {
  if (raw === undefined) {
    if (hostKey !== undefined) throw new UsageError("--metrics-ssh-host-key: only with --metrics-ssh");
    return null;
  }
  const m = /^([a-z_][a-z0-9_-]{0,31})@([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::(\d{1,5}))?$/.exec(raw);
  const port = m?.[3] === undefined ? 22 : Number(m[3]);
  if (!m || port < 1 || port > 65535) {
    throw new UsageError(`--metrics-ssh: expected USER@HOST[:PORT] like c1m@10.202.0.2 or ubuntu@10.0.0.5:2222, got "${raw}"`);
  }
  if (hostKey === undefined) {
    throw new UsageError("--metrics-ssh-host-key: required with --metrics-ssh (the host's public key, 'ssh-ed25519 AAAA...')");
  }
  if (!/^[a-z0-9@.-]{1,64} [A-Za-z0-9+/]+={0,2}$/.test(hostKey)) {
    throw new UsageError(
      `--metrics-ssh-host-key: expected a public key like 'ssh-ed25519 AAAA...' (type and key, no comment), got "${hostKey}"`,
    );
  }
  return { user: m[1]!, host: m[2]!, port, hostKey };
}

/** Validates plan JSON text; `source` names where it came from in the message. */
export function parsePlan(text: string, source: string): VerifyPlan {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${source}: not JSON (${(err as Error).message})`);
  }
  const parsed = planSchema.safeParse(json);
  if (!parsed.success) throw new UsageError(`${source}: not a CapacityPlan:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export function parseVerifyArgs(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
  readText: (file: string) => string = (f) => readFileSync(f, "utf8"),
): ParsedArgs {
  const values = parseFlags(argv, OPTIONS);
  if (values.help) return { help: true };

  let plan: VerifyPlan;
  if (values.plan !== undefined) {
    let text: string;
    try {
      text = readText(values.plan);
    } catch (err) {
      throw new UsageError(
        `--plan: cannot read ${values.plan} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    plan = parsePlan(text, `--plan ${values.plan}`);
  } else if (env.C1M_PLAN !== undefined && env.C1M_PLAN.trim() !== "") {
    plan = parsePlan(env.C1M_PLAN, "C1M_PLAN");
  } else {
    throw new UsageError("--plan: required (a CapacityPlan JSON file), or set C1M_PLAN to the plan's JSON text");
  }

  const metricsUrl = values["metrics-url"];
  if (metricsUrl === undefined) throw new UsageError("--metrics-url: required, e.g. --metrics-url http://10.201.0.2:9100");
  let url: URL;
  try {
    url = new URL(metricsUrl);
  } catch {
    throw new UsageError(`--metrics-url: expected an http:// URL like http://10.201.0.2:9100, got "${metricsUrl}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--metrics-url: expected an http:// or https:// URL, got "${metricsUrl}"`);
  }

  const metricsSsh = parseMetricsSsh(values["metrics-ssh"], values["metrics-ssh-host-key"]);

  const label = values["clients-label"];
  if (label !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._/-]*(=[A-Za-z0-9._/:@-]*)?$/.test(label)) {
    throw new UsageError(`--clients-label: expected a docker label like c1m-lab.stack=dev (key or key=value), got "${label}"`);
  }
  const clientHosts = parseClientHosts(values);
  if (clientHosts.length > 0 && label === undefined) throw new UsageError("--client-host: only with --clients-label");
  const stack = values.stack ?? "local";
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(stack)) {
    throw new UsageError(`--stack: expected a stack name of letters, digits, '_', '.', '-', got "${stack}"`);
  }
  const reportsDir = values["reports-dir"] ?? "reports";
  if (reportsDir.trim() === "") throw new UsageError("--reports-dir: expected a directory path, got an empty string");

  const linger = values["dashboard-linger-seconds"];
  if (linger !== undefined && values.dashboard === undefined) {
    throw new UsageError("--dashboard-linger-seconds: only with --dashboard");
  }
  const dashboard =
    values.dashboard === undefined
      ? null
      : { ...parseListen(values.dashboard), lingerSeconds: duration("dashboard-linger-seconds", linger, 5, 0) };

  const maxRttMs =
    values["max-rtt-ms"] === undefined ? null : parseNumberOption("--max-rtt-ms", values["max-rtt-ms"], { min: 0.001 });
  const findLimit = parseFindLimit(values, maxRttMs);
  // The steps are signals to the labelled client containers (on each --client-host).
  if (findLimit && label === undefined) {
    throw new UsageError("--mode find-limit: needs --clients-label (it signals the client containers with it)");
  }

  return {
    help: false,
    options: {
      dashboard,
      ...(findLimit ? { findLimit } : {}),
      plan,
      metricsUrl,
      metricsSsh,
      clientsLabel: label ?? null,
      ...(clientHosts.length > 0 ? { clientHosts } : {}),
      conntrack: oneOf("conntrack", values.conntrack, ["local", "none"] as const, "local"),
      expect: oneOf("expect", values.expect, ["all", "plateau"] as const, "all"),
      timeoutSeconds: duration("timeout-seconds", values["timeout-seconds"], 120, 0.1),
      stallSeconds: duration("stall-seconds", values["stall-seconds"], 10, 0.1),
      soakSeconds: duration("soak-seconds", values["soak-seconds"], 0, 0),
      intervalSeconds: duration("interval-seconds", values["interval-seconds"], 2, 0.05),
      maxRttMs,
      ...scenarioOptions(values.scenario, values["max-recovery-seconds"], values["flush-sources"], env),
      stack,
      reportsDir,
    },
  };
}

/** --scenario and its settings; a storm needs the restart script from the environment, a flush its sources. */
function scenarioOptions(
  raw: string | undefined,
  maxRecovery: string | undefined,
  flushSources: string | undefined,
  env: Record<string, string | undefined>,
): Pick<ConnectionTestOptions, "scenario" | "maxRecoverySeconds" | "restartScript" | "flushSources"> {
  const scenario = oneOf("scenario", raw, TEST_SCENARIOS, "hold");
  if (flushSources !== undefined && scenario !== "conntrack-flush") {
    throw new UsageError("--flush-sources: only with --scenario conntrack-flush");
  }
  if (scenario === "hold") {
    if (maxRecovery !== undefined) {
      throw new UsageError("--max-recovery-seconds: only with --scenario reconnect-storm or conntrack-flush");
    }
    return {};
  }
  const maxRecoverySeconds = duration("max-recovery-seconds", maxRecovery, DEFAULT_MAX_RECOVERY_SECONDS, 1);
  if (scenario === "conntrack-flush") return { scenario, maxRecoverySeconds, flushSources: parseFlushSources(flushSources) };
  const restartScript = env[RESTART_SCRIPT_ENV];
  if (restartScript === undefined || restartScript.trim() === "") {
    throw new UsageError(`--scenario ${scenario}: needs the server's restart script (bash) in ${RESTART_SCRIPT_ENV}`);
  }
  return { scenario, maxRecoverySeconds, restartScript };
}
