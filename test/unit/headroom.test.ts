// Generator headroom: client CPU against its share between polls, the server's CPU, and the
// diagnosis naming a client that ran above 80% of its share.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ServerStats } from "../../shared/protocol.js";
import { limitCpusOf, usageSecondsOf } from "../../workload/verify/containerCpu.js";
import type { Diagnosis } from "../../workload/verify/diagnose.js";
import { generatorOutput, generatorSentence, headroomMarkdown, summarizeHeadroom } from "../../workload/verify/headroom.js";
import { withHoldChecks } from "../../workload/verify/holdChecks.js";
import { holdView } from "../../workload/verify/holdView.js";
import type { ClientObservation, Observation, Run } from "../../workload/verify/types.js";
import { runningClient } from "../support/observations.js";

function client(name: string, usageSeconds: number, limitCpus: number | null = null): ClientObservation {
  return runningClient(name, { cpu: { usageSeconds, limitCpus } });
}

function server(cpuSeconds: number, workerCpu: number): ServerStats {
  return {
    total: 10,
    accepted: 10,
    closed: 0,
    acceptRate: 0,
    workers: 1,
    uptimeSeconds: 1,
    perLocalAddress: {},
    perRemoteIp: {},
    samples: {},
    sharedSourcePorts: {},
    perWorker: [{ pid: 7, total: 10, accepted: 10, closed: 0, acceptErrors: 0, paused: false, pauses: 0, cpuSeconds: workerCpu }],
    cpuSeconds,
  };
}

const poll = (t: number, clients: ClientObservation[], s: ServerStats | null): Observation => ({
  t,
  server: s,
  serverError: null,
  clients,
  clientsError: null,
  conntrack: null,
  conntrackError: null,
});

// client-1 (unlimited: one CPU) uses 0.5 then 0.95 CPU; client-2 (--cpus 0.5) 0.1 CPU = 20% of its share.
const observations = [
  poll(0, [client("c1m-dev-client-1", 0), client("c1m-dev-client-2", 0, 0.5)], server(10, 5)),
  poll(2, [client("c1m-dev-client-1", 1), client("c1m-dev-client-2", 0.2, 0.5)], server(12, 6)),
  poll(4, [client("c1m-dev-client-1", 2.9), client("c1m-dev-client-2", 0.4, 0.5)], server(15, 8)),
];

describe("generator headroom", () => {
  it("peaks and means per client as fractions of its share; the server's CPUs and busiest worker", () => {
    const h = summarizeHeadroom(observations);
    assert.deepEqual(h?.clients, [
      { name: "c1m-dev-client-1", shareCpus: 1, peak: 0.95, peakAt: 4, mean: 0.725 },
      { name: "c1m-dev-client-2", shareCpus: 0.5, peak: 0.2, peakAt: 2, mean: 0.2 },
    ]);
    assert.deepEqual(
      h?.limited.map((c) => c.name),
      ["c1m-dev-client-1"],
    );
    assert.deepEqual(h?.server, { peakCpus: 1.5, meanCpus: 1.25, busiestWorkerPeak: 1 });
  });

  it("names the client above 80% of its share", () => {
    assert.equal(
      generatorSentence(summarizeHeadroom(observations)),
      "The load generator limited the result: c1m-dev-client-1 (95.0% of 1 CPU, 4 s in) ran above 80% of its CPU share, where a client's own delays count as the server's.",
    );
    assert.equal(generatorSentence(summarizeHeadroom(observations.slice(0, 2))), null, "0.5 CPU: headroom left");
  });

  it("skips an interval where the usage fell (a restarted container) and has nothing to say without two readings", () => {
    const restarted = [poll(0, [client("c", 5)], null), poll(2, [client("c", 0.2)], null), poll(4, [client("c", 0.4)], null)];
    assert.deepEqual(summarizeHeadroom(restarted)?.clients, [{ name: "c", shareCpus: 1, peak: 0.1, peakAt: 4, mean: 0.1 }]);
    assert.equal(summarizeHeadroom(observations.slice(0, 1)), null);
  });

  it("a pass stays a pass, its diagnosis naming the generator; the outputs and report.md carry the peaks", () => {
    const run: Run = {
      observations,
      stopReason: "target",
      soakStartIndex: 1,
      soakSeconds: 2,
      timeoutSeconds: 60,
      stallSeconds: 5,
      intervalSeconds: 2,
    };
    const counted = {
      verdict: "pass",
      limit: "none",
      diagnosis: "All 10 connections established.",
      warnings: [],
    } as unknown as Diagnosis;
    const d = withHoldChecks(counted, run, { maxRttMs: null });
    assert.equal(d.verdict, "pass");
    assert.match(d.diagnosis, /^All 10 connections established\. The load generator limited the result: c1m-dev-client-1 /);
    assert.deepEqual(generatorOutput(d.headroom), {
      limitedBy: ["c1m-dev-client-1"],
      clientCpuPeak: { "c1m-dev-client-1": 0.95, "c1m-dev-client-2": 0.2 },
      serverCpuPeak: 1.5,
      busiestWorkerPeak: 1,
    });
    const md = headroomMarkdown(d.headroom).join("\n");
    assert.match(md, /\| c1m-dev-client-1 \| +1 CPU \| 95\.0% \*\*\(limited\)\*\* \| +72\.5% \|/);
    assert.match(md, /\| c1m-dev-client-2 \| +0\.5 CPU \| +20\.0% \| +20\.0% \|/);
    assert.ok(md.includes("\nServer: 1.5 CPUs at peak, 1.25 on average; busiest worker 100.0% of a CPU.\n"), md);
  });

  it("the dashboard's view: the busiest clients and the server since the previous poll", () => {
    const first = holdView(observations[1]!, null);
    assert.equal(first.cpu, null, "one reading: no rate yet");
    const second = holdView(observations[2]!, first);
    assert.deepEqual(second.cpu, {
      busiest: [
        { name: "c1m-dev-client-1", share: 0.95 },
        { name: "c1m-dev-client-2", share: 0.2 },
      ],
      limited: 1,
      serverCpus: 1.5,
    });
  });
});

describe("container CPU from the Docker API", () => {
  it("limit: --cpus, else quota / period, else none", () => {
    assert.equal(limitCpusOf({ NanoCpus: 1_500_000_000 }), 1.5);
    assert.equal(limitCpusOf({ CpuQuota: 50_000, CpuPeriod: 100_000 }), 0.5);
    assert.equal(limitCpusOf({ NanoCpus: 0, CpuQuota: 0 }), null);
    assert.equal(limitCpusOf(undefined), null);
  });

  it("usage: cpu_stats.cpu_usage.total_usage in seconds, null without it", () => {
    assert.equal(usageSecondsOf({ cpu_stats: { cpu_usage: { total_usage: 2_500_000_000 } } }), 2.5);
    assert.equal(usageSecondsOf({ cpu_stats: {} }), null);
    assert.equal(usageSecondsOf(null), null);
  });
});
