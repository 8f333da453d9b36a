// test.scenario's cross-checks against the rest of the config (pure): what a reconnect storm
// needs from the server side, what a conntrack flush needs from the client side and the pings,
// and the clients' backoff both of them wait through.
import {
  DEFAULT_MAX_RECOVERY_SECONDS,
  FLUSH_MAX_PING_SECONDS,
  FLUSH_MIN_OBSERVE_SECONDS,
  type TestScenario,
} from "../../shared/protocol.js";

interface ScenarioConfig {
  server: { provider: string };
  clients: {
    reconnect: { baseMs: number };
    ping: { intervalSeconds: number };
    hosts?: Array<{ name: string; docker: string }> | undefined;
  };
  test: { scenario: TestScenario; maxRecoverySeconds?: number | undefined; mode?: string };
}

export interface ScenarioIssue {
  path: string[];
  message: string;
}

export function scenarioIssues(c: ScenarioConfig): ScenarioIssue[] {
  const { scenario, maxRecoverySeconds } = c.test;
  if (scenario === "hold") {
    return maxRecoverySeconds === undefined
      ? []
      : [
          {
            path: ["test", "maxRecoverySeconds"],
            message:
              "maxRecoverySeconds bounds a reconnect storm or a conntrack flush: only with test.scenario: reconnect-storm or conntrack-flush",
          },
        ];
  }
  const issues: ScenarioIssue[] = [];
  if (c.test.mode === "find-limit") {
    issues.push({
      path: ["test", "scenario"],
      message: `${scenario} follows a hold of the whole target, and find-limit stops at its first broken step: use one of test.mode: find-limit or test.scenario: ${scenario} per run`,
    });
  }
  issues.push(...(scenario === "reconnect-storm" ? stormIssues(c) : flushIssues(c)));
  const baseMs = c.clients.reconnect.baseMs;
  const bound = maxRecoverySeconds ?? DEFAULT_MAX_RECOVERY_SECONDS;
  if (bound * 1000 <= baseMs) {
    issues.push({
      path: ["test", "maxRecoverySeconds"],
      message: `a dropped connection waits up to clients.reconnect.baseMs (${baseMs} ms) before it reconnects: make maxRecoverySeconds${unsetText(maxRecoverySeconds)} more than ${baseMs / 1000} s`,
    });
  }
  return issues;
}

function unsetText(maxRecoverySeconds: number | undefined): string {
  return maxRecoverySeconds === undefined ? ` (unset, it is ${DEFAULT_MAX_RECOVERY_SECONDS})` : "";
}

function stormIssues(c: ScenarioConfig): ScenarioIssue[] {
  if (c.server.provider === "netns") return [];
  return [
    {
      path: ["test", "scenario"],
      message: `reconnect-storm restarts the connection server from the connection test, which the lab does for server.provider netns only (not yet for ${c.server.provider}): use test.scenario: hold here, or a netns stack`,
    },
  ];
}

/**
 * The flush deletes entries with this machine's conntrack tool, so only this machine's NAT: a
 * client host over ssh would need a root command run there, which the lab does not do yet.
 */
function flushIssues(c: ScenarioConfig): ScenarioIssue[] {
  const issues: ScenarioIssue[] = [];
  if (c.clients.hosts !== undefined) {
    const remote = c.clients.hosts.filter((h) => h.docker !== "local").map((h) => `${h.name} (${h.docker})`);
    issues.push({
      path: ["clients", "hosts"],
      message:
        `conntrack-flush deletes the lab's NAT entries with conntrack on this machine only, for the clients of clients.subnet; ` +
        `${remote.length > 0 ? `clients.hosts puts clients behind other hosts' NAT (${remote.join(", ")}), where it would need a root command over ssh, which the lab does not run` : "clients.hosts is not supported by it yet"}: ` +
        `leave clients.hosts unset for this scenario`,
    });
  }
  const ping = c.clients.ping.intervalSeconds;
  if (ping > FLUSH_MAX_PING_SECONDS) {
    issues.push({
      path: ["clients", "ping", "intervalSeconds"],
      message: `conntrack-flush needs the held connections to send while it watches (their pings must find the NAT again): make clients.ping.intervalSeconds at most ${FLUSH_MAX_PING_SECONDS}, got ${ping}`,
    });
  }
  const bound = c.test.maxRecoverySeconds ?? DEFAULT_MAX_RECOVERY_SECONDS;
  if (bound < FLUSH_MIN_OBSERVE_SECONDS) {
    issues.push({
      path: ["test", "maxRecoverySeconds"],
      message: `conntrack-flush watches until every connection has pinged after the delete and its answer was due: make maxRecoverySeconds at least ${FLUSH_MIN_OBSERVE_SECONDS}, got ${bound}`,
    });
  }
  return issues;
}
