import { test } from "node:test";
import assert from "node:assert/strict";
import { aggregateStats, RateWindow } from "../../workload/server/aggregate.js";
import { ConnectionTable } from "../../workload/server/connectionTable.js";

const L1 = "10.0.0.2:9000";
const L2 = "10.0.0.3:9000";

test("connection table: tokens find their group; counts and bitmaps follow add/remove", () => {
  const t = new ConnectionTable();
  const a = t.add(L1, "10.1.0.1", 40000);
  const b = t.add(L2, "10.1.0.1", 40000);
  const c = t.add(L1, "10.1.0.2", 50000);
  const u = t.add(L1, undefined, undefined); // peer reset before we looked
  assert.deepEqual(t.counters(), { accepted: 4, closed: 0, total: 4 });
  assert.equal(t.report().length, 3);
  t.remove(b);
  t.remove(u);
  assert.deepEqual(t.counters(), { accepted: 4, closed: 2, total: 2 });
  assert.deepEqual(
    t.report().map((g) => [g.local, g.remoteIp, g.count]),
    [
      [L1, "10.1.0.1", 1],
      [L1, "10.1.0.2", 1],
    ],
  );
  t.remove(a);
  t.remove(c);
  assert.deepEqual(t.report(), []);
});

test("stats sum workers: counts, OR of bitmaps, samples, shared source ports", () => {
  const w1 = new ConnectionTable();
  const w2 = new ConnectionTable();
  // Port 40000 of 10.1.0.1 reaches L1 through worker 1 and L2 through worker 2: shared.
  w1.add(L1, "10.1.0.1", 40000);
  w2.add(L2, "10.1.0.1", 40000);
  for (let p = 41000; p < 41008; p++) (p % 2 ? w1 : w2).add(L1, "10.1.0.2", p);
  const closed = w1.add(L1, "10.1.0.2", 42000);
  w1.remove(closed);

  const s = aggregateStats({
    reports: [w1, w2].map((w) => ({ ...w.counters(), groups: w.report() })),
    retired: { accepted: 5, closed: 5 },
    listening: [L1, L2, "10.0.0.4:9000"],
    acceptRate: 12,
    workers: 2,
    uptimeSeconds: 3.5,
  });
  assert.equal(s.total, 10);
  assert.equal(s.accepted, 16);
  assert.equal(s.closed, 6);
  assert.equal(s.acceptRate, 12);
  assert.equal(s.workers, 2);
  assert.deepEqual(s.perLocalAddress, { [L1]: 9, [L2]: 1, "10.0.0.4:9000": 0 });
  assert.deepEqual(s.perRemoteIp, { "10.1.0.1": 2, "10.1.0.2": 8 });
  assert.deepEqual(s.samples[L1], ["10.1.0.1:40000", "10.1.0.2:41000", "10.1.0.2:41001", "10.1.0.2:41002", "10.1.0.2:41003"]);
  assert.deepEqual(s.samples[L2], ["10.1.0.1:40000"]);
  assert.equal(s.samples["10.0.0.4:9000"], undefined);
  assert.deepEqual(s.sharedSourcePorts, {
    "10.1.0.1": { count: 1, example: { port: 40000, localAddresses: [L1, L2] } },
    "10.1.0.2": { count: 0 },
  });
});

test("accept rate over a sliding window", () => {
  const r = new RateWindow(5000);
  assert.equal(r.rate(), 0);
  r.add(0, 0);
  r.add(1000, 500);
  assert.equal(r.rate(), 500);
  for (let t = 2000; t <= 10_000; t += 1000) r.add(t, 500); // no accepts since t = 1 s
  assert.equal(r.rate(), 0);
  r.add(11_000, 5500);
  assert.equal(r.rate(), 1000); // 5000 over the last 5 s
});
