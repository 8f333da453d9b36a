// The progress line at scale: at most 160 characters whatever the number of server IPs, the
// per-IP counts summarized (min–max, median, the lowest few when they lag).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fitParts, progressLine } from "../../workload/verify/progress.js";
import { ipSpread } from "../../workload/verify/perIp.js";
import type { ClientObservation, Observation } from "../../workload/verify/types.js";
import type { ServerStats } from "../../shared/protocol.js";

function stats(total: number, perLocalAddress: Record<string, number>): ServerStats {
  return {
    total,
    accepted: total,
    closed: 0,
    acceptRate: 0,
    workers: 54,
    uptimeSeconds: 100,
    perLocalAddress,
    perRemoteIp: { "10.201.6.1": total },
    samples: {},
    sharedSourcePorts: {},
  };
}

function client(i: number, state: string, established: number | null): ClientObservation {
  return {
    name: `c1m-client-${i}`,
    id: `id${i}`,
    state,
    exitCode: null,
    restartCount: 0,
    oomKilled: false,
    lastError: null,
    status:
      established === null
        ? null
        : {
            type: "status",
            client: `c${i}`,
            target: 19_608,
            established,
            inFlight: 0,
            attempted: established,
            failed: { timeout: 0, refused: 0, addrnotavail: 0, emfile: 0, reset: 0, other: 0 },
            dropped: 0,
            rate: 0,
            elapsedSeconds: 1,
            rampSeconds: null,
            final: false,
          },
  };
}

function obs(
  t: number,
  server: ServerStats | null,
  clients: ClientObservation[] | null,
  conntrack: [number, number] | null,
): Observation {
  return {
    t,
    server,
    serverError: server ? null : "connect ECONNREFUSED 10.201.6.2:9100 ".repeat(10).trim(),
    clients,
    clientsError: null,
    conntrack: conntrack
      ? { count: conntrack[0], max: conntrack[1], insertFailed: 0, drop: 0, earlyDrop: 0, searchRestart: 0 }
      : null,
    conntrackError: null,
  };
}

/** 54 addresses 10.201.6.2 … 10.201.6.55 (the million stack) → count. */
const million = (count: (ip: number) => number) =>
  Object.fromEntries(Array.from({ length: 54 }, (_, i) => [`10.201.6.${i + 2}:9000`, count(i + 2)]));

describe("verify progress line", () => {
  it("summarizes 54 server IPs at a million in one line of at most 160 characters", () => {
    const perIp = million((ip) => 18_498 + ip); // 18,500 … 18,553
    const clients = Array.from({ length: 51 }, (_, i) => client(i, "running", 19_608));
    const line = progressLine(
      obs(84, stats(1_000_008, perIp), clients, [1_000_010, 2_097_152]),
      obs(82, stats(987_000, perIp), clients, null),
      1_000_008,
      "settle",
    );
    assert.equal(
      line,
      "[verify   84.0s settle] 1,000,008/1,000,008 (100.0%) +6,504/s | 54 IPs 18,500–18,553, median 18,527 | clients 51/51, 1,000,008 est. | conntrack 1,000,010 (48%)",
    );
    assert.equal(line.length, 159);
  });

  it("names the lowest IPs when they lag, shortening the rest of the line first", () => {
    const low: Record<number, number> = { 9: 8_012, 17: 8_100, 23: 8_200, 30: 8_300, 55: 9_611 };
    const perIp = million((ip) => low[ip] ?? 9_488);
    const clients = [...Array.from({ length: 50 }, (_, i) => client(i, "running", 10_000)), client(50, "restarting", null)];
    const line = progressLine(
      obs(40, stats(507_135, perIp), clients, [507_200, 2_097_152]),
      obs(38, stats(482_445, perIp), clients, null),
      1_000_008,
    );
    assert.equal(
      line,
      "[verify   40.0s] 507,135/1,000,008 (50.7%) +12,345/s | 54 IPs 8,012–9,611, median 9,488; lagging 10.201.6.9 8,012 | clients 50/51 | conntrack 507,200/2,097,152",
    );
  });

  it("keeps the lagging IPs' counts where there is room (a short phase tag, smaller numbers)", () => {
    const perIp = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`10.201.6.${i + 2}:9000`, i === 4 ? 400 : i === 7 ? 610 : 1_000]),
    );
    const line = progressLine(obs(6, stats(19_020, perIp), [], null), null, 20_000);
    assert.equal(
      line,
      "[verify    6.0s] 19,020/20,000 (95.1%) +0/s | 20 IPs 400–1,000, median 1,000; lagging 10.201.6.6 400, .9 610 | no client containers",
    );
  });

  it("lists every IP while the line fits", () => {
    const line = progressLine(
      obs(2, stats(2_550, { "10.201.2.2:9000": 850, "10.201.2.3:9000": 850, "10.201.2.4:9000": 850 }), null, null),
      null,
      2_550,
    );
    assert.equal(line, "[verify    2.0s] 2,550/2,550 (100.0%) +0/s | 10.201.2.2 850 · 10.201.2.3 850 · 10.201.2.4 850");
  });

  it("stays within 160 characters at 1,000 IPs over several /24s and with a long server error", () => {
    const perIp = Object.fromEntries(
      Array.from({ length: 1000 }, (_, i) => [`10.${200 + (i % 4)}.${i % 250}.${i % 7}:9000`, 1_000_000 + i]),
    );
    const clients = Array.from({ length: 1000 }, (_, i) => client(i, "running", 19_608));
    const big = progressLine(
      obs(3599.9, stats(999_999_999, perIp), clients, [999_999_999, 999_999_999]),
      null,
      999_999_999,
      "settle",
    );
    assert.ok(big.length <= 160, big);
    assert.match(big, / \| 1,000 IPs 1,000,000–1,000,999, median 1,000,500 \| clients 1,000\/1,000 \| /);
    const down = progressLine(obs(10, null, null, null), null, 1_000);
    assert.equal(down.length, 160);
    assert.match(
      down,
      /^\[verify {3}10\.0s\] server unreachable \(connect ECONNREFUSED 10\.201\.6\.2:9100 connect ECONNREFUSED .*…$/,
    );
  });

  it("ipSpread: min, median (the mean of the middle two for an even count), max, lowest-first lagging", () => {
    assert.deepEqual(ipSpread({ a: 10, b: 8, c: 4, d: 10 }), {
      count: 4,
      min: 4,
      median: 9,
      max: 10,
      lagging: [
        ["c", 4],
        ["b", 8],
      ],
    });
    assert.deepEqual(ipSpread({ x: 5 }), { count: 1, min: 5, median: 5, max: 5, lagging: [] });
    assert.equal(ipSpread({}), null);
  });

  it("fitParts shortens parts in the given order and cuts only when nothing fits", () => {
    const parts = [["aaaa"], ["bbbb", "bb"], ["cccc", "c"]];
    assert.equal(fitParts(parts, [2, 1], 18), "aaaa | bbbb | cccc");
    assert.equal(fitParts(parts, [2, 1], 15), "aaaa | bbbb | c");
    assert.equal(fitParts(parts, [2, 1], 13), "aaaa | bb | c");
    assert.equal(fitParts(parts, [2, 1], 10), "aaaa | bb…");
  });
});
