// test.scenario's cross-checks against the rest of the config (pure): what a reconnect storm
// needs from the server side and the clients' backoff.
import { DEFAULT_MAX_RECOVERY_SECONDS, type TestScenario } from "../../shared/protocol.js";

interface ScenarioConfig {
  server: { provider: string };
  clients: { reconnect: { baseMs: number } };
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
            message: "maxRecoverySeconds bounds a reconnect storm: only with test.scenario: reconnect-storm",
          },
        ];
  }
  const issues: ScenarioIssue[] = [];
  if (c.test.mode === "find-limit") {
    issues.push({
      path: ["test", "scenario"],
      message:
        "reconnect-storm follows a hold of the whole target, and find-limit stops at its first broken step: use one of test.mode: find-limit or test.scenario: reconnect-storm per run",
    });
  }
  if (c.server.provider !== "netns") {
    issues.push({
      path: ["test", "scenario"],
      message: `reconnect-storm restarts the connection server from the connection test, which the lab does for server.provider netns only (not yet for ${c.server.provider}): use test.scenario: hold here, or a netns stack`,
    });
  }
  const baseMs = c.clients.reconnect.baseMs;
  const bound = maxRecoverySeconds ?? DEFAULT_MAX_RECOVERY_SECONDS;
  if (bound * 1000 <= baseMs) {
    const unset = maxRecoverySeconds === undefined ? ` (unset, it is ${DEFAULT_MAX_RECOVERY_SECONDS})` : "";
    issues.push({
      path: ["test", "maxRecoverySeconds"],
      message: `a dropped connection waits up to clients.reconnect.baseMs (${baseMs} ms) before it reconnects: make maxRecoverySeconds${unset} more than ${baseMs / 1000} s`,
    });
  }
  return issues;
}
