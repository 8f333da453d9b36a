// The connection test's flags (workload/verify.ts): where the metrics are, which containers are the
// clients, what to expect, how long to wait, where the report goes, the live dashboard.
import type { LabConfig } from "../config/schema.js";
import type { LabPaths } from "../plan/paths.js";
import { DEFAULT_MAX_RECOVERY_SECONDS } from "../../shared/protocol.js";

/** verify's find-limit flags (none in hold mode); a 0 bound turns its criterion off. */
export function findLimitArgs(test: LabConfig["test"]): string[] {
  const f = test.findLimit;
  if (test.mode !== "find-limit" || f?.stepConnections === undefined) return [];
  return [
    "--mode",
    "find-limit",
    "--step-connections",
    String(f.stepConnections),
    "--step-seconds",
    String(f.stepSeconds),
    "--max-failure-rate",
    String(f.maxFailureRate),
    "--min-mem-available-mib",
    String(f.minMemAvailableMiB),
    "--max-worker-cpu",
    String(f.maxWorkerCpu),
  ];
}

/** `clientsLabel`: the Docker label (key=value) that finds this stack's client containers. */
export function connectionTestArgs(
  config: LabConfig,
  stack: string,
  paths: LabPaths,
  endpoints: { metricsUrl: string; clientsLabel: string; clientSubnets?: string[] },
): string[] {
  const { metricsUrl, clientsLabel } = endpoints;
  const verifyArgs = [
    "--metrics-url",
    metricsUrl,
    "--clients-label",
    clientsLabel,
    "--conntrack",
    "local",
    "--expect",
    config.test.expect,
    "--timeout-seconds",
    String(config.test.timeoutSeconds),
    "--stall-seconds",
    String(config.test.stallSeconds),
    "--soak-seconds",
    String(config.test.soakSeconds),
    "--stack",
    stack,
    "--reports-dir",
    paths.reportsDir,
  ];
  if (config.test.maxRttMs !== undefined) verifyArgs.push("--max-rtt-ms", String(config.test.maxRttMs));
  verifyArgs.push(...findLimitArgs(config.test));
  verifyArgs.push(...scenarioArgs(config.test, endpoints.clientSubnets ?? []));
  const { dashboard } = config.test;
  if (dashboard) {
    verifyArgs.push(
      "--dashboard",
      `${dashboard.host}:${dashboard.port}`,
      "--dashboard-linger-seconds",
      String(dashboard.lingerSeconds),
    );
  }
  return verifyArgs;
}

/**
 * verify's flags for test.scenario: none for a plain hold (every other stack's test is unchanged).
 * conntrack-flush: the client networks' subnets, the only sources whose entries it deletes.
 */
export function scenarioArgs(
  t: Pick<LabConfig["test"], "scenario" | "maxRecoverySeconds">,
  clientSubnets: string[] = [],
): string[] {
  if (t.scenario === "hold") return [];
  const bound = ["--max-recovery-seconds", String(t.maxRecoverySeconds ?? DEFAULT_MAX_RECOVERY_SECONDS)];
  const sources = t.scenario === "conntrack-flush" ? ["--flush-sources", clientSubnets.join(",")] : [];
  return ["--scenario", t.scenario, ...bound, ...sources];
}

/** Where the connection test reaches a VM's metrics: ssh to the host, which must present `hostKey`. */
export interface MetricsTunnel {
  user: string;
  host: string;
  port: number;
  /** "ssh-ed25519 AAAA...": the host key every remote step pins too. */
  hostKey: string;
}

/** verify's flags for the tunnel: `--metrics-url` is then the URL on the host (loopback by default). */
export function metricsTunnelArgs(t: MetricsTunnel): string[] {
  return ["--metrics-ssh", `${t.user}@${t.host}:${t.port}`, "--metrics-ssh-host-key", t.hostKey];
}

/** A client host as verify reaches it: this machine's Docker, or ssh with the pinned host key and the login key's file. */
export interface ClientHostAccess {
  name: string;
  /** "local" or ssh://user@host:port. */
  docker: string;
  hostKey?: string;
  /** The login key's file (mode 0600 in the host's state directory); unset: the ssh-agent. */
  identityFile?: string;
}

/** verify's flags for the client hosts: names, URLs, public host keys and key *files* (never a key). */
export function clientHostArgs(hosts: ClientHostAccess[]): string[] {
  return hosts.flatMap((h) => [
    "--client-host",
    `${h.name}=${h.docker}`,
    ...(h.hostKey ? ["--client-host-key", `${h.name}=${h.hostKey}`] : []),
    ...(h.identityFile ? ["--client-host-identity", `${h.name}=${h.identityFile}`] : []),
  ]);
}
