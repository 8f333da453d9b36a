import type { TestSettings } from "../../workload/verify/report.js";
// Loads the recorded scenarios under test/fixtures/verify/ (read from the source tree: tsc does
// not copy JSON; this file runs as dist/test/unit/verify-fixtures.js).
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fixtureSchema, type Fixture, type Observation } from "../../workload/verify/types.js";

export const FIXTURE_DIR = fileURLToPath(new URL("../../../test/fixtures/verify/", import.meta.url));

export function fixtureNames(): string[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -".json".length))
    .sort();
}

/** A fresh, validated copy (tests may mutate it). */
export function loadFixture(name: string): Fixture {
  return fixtureSchema.parse(JSON.parse(readFileSync(`${FIXTURE_DIR}${name}.json`, "utf8")));
}

/**
 * For one-server-IP fixtures: caps every observation at `n` connections (server and clients scaled
 * alike), so a plateau can be moved without recording a new run.
 */
export function capAt(fx: Fixture, n: number): Fixture {
  for (const o of fx.run.observations) capObservation(o, n);
  return fx;
}

export function capObservation(o: Observation, n: number): void {
  const s = o.server;
  if (!s || s.total <= n) return;
  const factor = n / s.total;
  const keys = Object.keys(s.perLocalAddress);
  if (keys.length !== 1) throw new Error("capAt works on one-server-IP fixtures");
  s.total = n;
  s.perLocalAddress[keys[0]!] = n;
  for (const ip of Object.keys(s.perRemoteIp)) s.perRemoteIp[ip] = n;
  let left = n;
  const clients = o.clients ?? [];
  clients.forEach((c, i) => {
    if (!c.status) return;
    const e = i === clients.length - 1 ? left : Math.floor(c.status.established * factor);
    c.status.established = e;
    left -= e;
  });
}

/** The test settings a recorded fixture ran with (the "dev" stack of the local lab). */
export function fixtureSettings(fx: Fixture): TestSettings {
  return {
    stack: "dev",
    metricsUrl: "http://10.201.0.2:9100",
    clientsLabel: "c1m-lab.stack=dev",
    conntrack: "local",
    expect: fx.expect,
    timeoutSeconds: 120,
    stallSeconds: 10,
    soakSeconds: 0,
    intervalSeconds: 2,
  };
}
