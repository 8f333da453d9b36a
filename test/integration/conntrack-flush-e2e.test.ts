// test.scenario conntrack-flush end to end, without the Pulumi engine: one small lab (the local
// stack's shape, 2 containers × 300 connections pinging every second). After the hold the
// connection test deletes this machine's conntrack entries from the lab's client subnet and
// watches. What happens, measured here (nf_conntrack_tcp_loose=1, the default): nothing is lost
// for good — the next pings are tracked anew and MASQUERADE maps them to the same ports, so the
// connections hold and their pings are answered; now and then some are reset and reconnect
// (below). An entry of another source (a documentation address) is left alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { planCapacity } from "../../infra/plan/capacity.js";
import { readHostFacts } from "../../infra/plan/readFacts.js";
import { ensureLocalNodeBase } from "../../infra/direct/localBase.js";
import { labDown, labUp } from "../../infra/direct/runner.js";
import { need, needsDocker, needsRoot, runScript, sh } from "../support/sh.js";
import { id, scenarioConfig, stepsFor, verify } from "../support/directLab.js";

const N = 12; // this file's slot in directLab's names and subnets (lab-e2e uses 0-4, rtt-e2e 7, find-limit 8, storm 9)

/** Someone else's connection in the host's table: 203.0.113.7 → 198.51.100.7:443 (documentation addresses). */
const FOREIGN = "-p tcp -s 203.0.113.7 -d 198.51.100.7 --sport 40001 --dport 443";
const FOREIGN_REPLY = "-r 198.51.100.7 -q 203.0.113.7 --reply-port-src 443 --reply-port-dst 40001";

interface FlushOut {
  held: boolean;
  deleted: number | null;
  error: string | null;
  entriesAfter: number | null;
  observedSeconds: number;
  lowestTotal: number | null;
  finalTotal: number | null;
  clientsHeld: number | null;
  halfOpenAtServer: number | null;
  lostForGood: number;
  clientsDropped: number | null;
  clientsReconnected: number | null;
  pings: number | null;
  unansweredPings: number | null;
  rttP99Ms: number | null;
  insertFailed: number | null;
}

test(
  "conntrack flush: the lab's NAT entries deleted mid-hold (2 × 300, pings every 1 s), none lost for good: each one reset came back, no ping unanswered but on those, 600 entries made again; another source's entry untouched",
  { timeout: 240_000 },
  (t) => {
    if (!needsRoot(t)) return;
    needsDocker();
    need(runScript("command -v conntrack").code === 0, "the conntrack tool (apt-get install conntrack)");
    assert.equal(sh("sysctl -n net.netfilter.nf_conntrack_tcp_loose").trim(), "1", "this test measures the default, tcp_loose=1");
    const base = ensureLocalNodeBase();
    const config = scenarioConfig("local", N, {
      clients: { containers: 2, connectionsPerContainer: 300, ping: { payload: "ping", intervalSeconds: 1 } },
      test: { scenario: "conntrack-flush", maxRecoverySeconds: 30 },
    });
    const plan = planCapacity(config, readHostFacts());
    const steps = stepsFor(config, plan, `e2e-${id}-${N}`, base);
    t.after(() => {
      runScript(`conntrack -D ${FOREIGN}`);
      labDown(steps, { log: () => {} });
      rmSync(steps.stateDir, { recursive: true, force: true });
    });
    sh(`conntrack -I ${FOREIGN} ${FOREIGN_REPLY} --state ESTABLISHED -t 600 -u SEEN_REPLY`);

    labUp(steps, { log: () => {} });
    assert.ok(steps.verifyArgs.includes("--flush-sources"), steps.verifyArgs.join(" "));
    const r = verify(steps, plan);
    for (const line of r.stderr.split("\n").filter((l) => l.startsWith("[verify flush") || l.includes("conntrack flush"))) {
      t.diagnostic(line);
    }
    assert.equal(r.code, 0, `${r.report.diagnosis} ${r.stderr.slice(-1500)}`);
    assert.equal(r.report.verdict, "pass");
    const flush = r.report.conntrackFlush as FlushOut;
    t.diagnostic(JSON.stringify(flush));
    assert.equal(flush.error, null);
    // The 600 held connections' entries, and a few of the ramp's closed ones still in the table.
    assert.ok(flush.deleted !== null && flush.deleted >= 600 && flush.deleted <= 620, `deleted ${flush.deleted}`);
    assert.equal(flush.held, true);
    assert.equal(flush.lostForGood, 0);
    assert.equal(flush.clientsHeld, 600, "every connection held or back on the clients' side");
    // Measured: in 4 of 5 runs none dropped; in one, one was reset and reconnected while the server
    // kept its old socket open. Deleting 12 times in one lab: 11 times none, once 95 of one client's
    // 300 at once (the server closed their old sockets). Each client pings its due sockets together
    // once a second: a delete that meets a burst of echoes in flight catches many.
    assert.ok(flush.clientsDropped !== null, "the clients' view was read");
    assert.equal(flush.clientsReconnected, flush.clientsDropped, "each drop came back");
    assert.equal(flush.finalTotal, 600 + (flush.halfOpenAtServer ?? -1));
    assert.ok(flush.halfOpenAtServer! <= flush.clientsDropped!, `left open ${flush.halfOpenAtServer}`);
    assert.ok(
      flush.unansweredPings !== null && flush.unansweredPings <= flush.clientsDropped!,
      `unanswered ${flush.unansweredPings}`,
    );
    // Watched at least 19 s at one ping a second per connection.
    assert.ok(flush.observedSeconds >= 19 && flush.observedSeconds <= 31, `watched ${flush.observedSeconds} s`);
    assert.ok(flush.pings !== null && flush.pings >= 600 * 10, `pings ${flush.pings}`);
    assert.equal(flush.entriesAfter, 600, "every held connection has a NAT entry again");
    assert.equal(typeof flush.insertFailed, "number");
    assert.match(
      r.report.diagnosis,
      /After the lab's [\d,]+ conntrack entries were deleted, (all 600 connections held over|not all 600 connections held, but all were back)/,
    );

    assert.match(sh(`conntrack -L ${FOREIGN} 2>/dev/null`), /src=203\.0\.113\.7 dst=198\.51\.100\.7 sport=40001 dport=443/);
  },
);
