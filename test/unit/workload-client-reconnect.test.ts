// --reconnect: an established connection that closes comes back after the backoff, through the
// client's real logic over a transport whose connections the test can drop (a server restart).
import { test } from "node:test";
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import type { ClientStatus, FailureClass } from "../../shared/protocol.js";
import { parseClientArgs, type ClientConfig } from "../../workload/client/config.js";
import { ConnectionClient } from "../../workload/client/connectionClient.js";
import type { ConnectionEvents, Transport } from "../../workload/client/transport.js";

interface Connect {
  target: number;
  source: number;
  at: number;
}

/** A client over a transport that settles each connect a microtask later, as `outcome` says. */
class Lab {
  readonly connects: Connect[] = [];
  readonly open = new Set<object>();
  /** Connects started but not settled yet, at most. */
  maxOutstanding = 0;
  private outstanding = 0;
  private events!: ConnectionEvents<object>;
  readonly client: ConnectionClient;
  private readonly ramped: Promise<void>;

  constructor(
    argv: string[],
    private outcome: (n: number) => "connected" | FailureClass = () => "connected",
  ) {
    const parsed = parseClientArgs(["--targets", "10.0.0.1:9000,10.0.0.2:9000", "--ping-interval-seconds", "0", ...argv], {});
    assert.ok(!parsed.help);
    let rampDone = (): void => {};
    this.ramped = new Promise((resolve) => (rampDone = resolve));
    this.client = new ConnectionClient(
      parsed.config as ClientConfig,
      () => {},
      () => {},
      () => rampDone(),
      {
        transport: (events) => this.transport((this.events = events)),
      },
    );
  }

  private transport(events: ConnectionEvents<object>): Transport<object> {
    return {
      kind: "net",
      connect: (target, source) => {
        const conn = {};
        const result = this.outcome(this.connects.push({ target, source, at: performance.now() }));
        this.maxOutstanding = Math.max(this.maxOutstanding, ++this.outstanding);
        queueMicrotask(() => {
          this.outstanding--;
          if (result === "connected") {
            this.open.add(conn);
            return events.connected(conn);
          }
          events.failed(conn, result);
          events.closed(conn);
        });
        return conn;
      },
      abort() {},
      write() {},
      isOpen: (c) => this.open.has(c),
      reset: (c) => void this.open.delete(c),
    };
  }

  async ramp(): Promise<void> {
    this.client.start();
    await this.ramped;
  }

  /** The server goes away: every open connection ends (EOF), counting from now. */
  dropAll(): number {
    const at = performance.now();
    for (const c of [...this.open]) {
      this.open.delete(c);
      this.events.closed(c);
    }
    return at;
  }

  status(): ClientStatus {
    return this.client.status(false);
  }

  stop(): void {
    this.client.finish(0);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("--reconnect: each dropped connection comes back after base ms (jitter none), round-robin over the targets", async () => {
  const lab = new Lab(["--connections", "4", "--reconnect", "--reconnect-base-ms", "30", "--reconnect-jitter", "none"]);
  await lab.ramp();
  assert.equal(lab.connects.length, 4);
  const droppedAt = lab.dropAll();
  const down = lab.status();
  assert.deepEqual([down.established, down.dropped, down.reconnected, down.reconnecting], [0, 4, 0, 4]);
  await sleep(80);
  const again = lab.connects.slice(4);
  assert.deepEqual(
    again.map((c) => c.target),
    [0, 1, 0, 1],
  );
  for (const c of again)
    assert.ok(c.at - droppedAt >= 29, `reconnect ${(c.at - droppedAt).toFixed(1)} ms after the drop, not before 30`);
  const s = lab.status();
  assert.deepEqual([s.established, s.dropped, s.reconnected, s.reconnecting, s.attempted], [4, 4, 4, 0, 8]);
  lab.stop();
});

test("--reconnect: a failed reconnect waits the next backoff (2 × base) and keeps its target", async () => {
  // Connect 2 (the first reconnect) is refused, connect 3 succeeds.
  const lab = new Lab(["--connections", "1", "--reconnect", "--reconnect-base-ms", "20", "--reconnect-jitter", "none"], (n) =>
    n === 2 ? "refused" : "connected",
  );
  await lab.ramp();
  lab.dropAll();
  await sleep(120);
  assert.equal(lab.connects.length, 3);
  const [, first, second] = lab.connects;
  assert.ok(
    second!.at - first!.at >= 39,
    `second reconnect ${(second!.at - first!.at).toFixed(1)} ms after the first, not before 40`,
  );
  assert.equal(second!.target, first!.target);
  const s = lab.status();
  assert.deepEqual([s.established, s.dropped, s.reconnected, s.failed.refused, s.reconnecting], [1, 1, 1, 1, 0]);
  lab.stop();
});

test("--reconnect: reconnects due together start together, past --connect-rate 100 and --max-in-flight 1", async () => {
  const lab = new Lab([
    "--connections",
    "6",
    "--connect-rate",
    "100",
    "--max-in-flight",
    "1",
    "--reconnect",
    "--reconnect-base-ms",
    "20",
    "--reconnect-jitter",
    "none",
  ]);
  await lab.ramp();
  assert.equal(lab.maxOutstanding, 1, "the ramp keeps to --max-in-flight 1");
  lab.dropAll();
  await sleep(60);
  const again = lab.connects.slice(6);
  assert.equal(again.length, 6);
  // At 100/s the bucket would space 6 connects over 50 ms; the herd starts within one timer callback.
  assert.ok(again.at(-1)!.at - again[0]!.at < 5, `6 reconnects within ${(again.at(-1)!.at - again[0]!.at).toFixed(1)} ms`);
  assert.equal(lab.maxOutstanding, 6, "all 6 in flight at once");
  lab.stop();
});

test("without --reconnect a dropped connection is only counted; status lines carry no reconnect counters", async () => {
  const lab = new Lab(["--connections", "2", "--reconnect-base-ms", "10", "--reconnect-jitter", "none"]);
  await lab.ramp();
  lab.dropAll();
  await sleep(40);
  assert.equal(lab.connects.length, 2);
  const s = lab.status();
  assert.deepEqual([s.established, s.dropped, "reconnected" in s, "reconnecting" in s], [0, 2, false, false]);
  lab.stop();
});

test("client: --reconnect from the flag or C1M_RECONNECT, off by default", () => {
  const base = ["--targets", "127.0.0.1:9000", "--connections", "1"];
  const on = (argv: string[], env: Record<string, string> = {}) => {
    const r = parseClientArgs([...base, ...argv], env);
    assert.ok(!r.help);
    return r.config.reconnectDropped;
  };
  assert.equal(on([]), false);
  assert.equal(on(["--reconnect"]), true);
  assert.equal(on([], { C1M_RECONNECT: "1" }), true);
  assert.equal(on([], { C1M_RECONNECT: "0" }), false);
  assert.throws(() => on([], { C1M_RECONNECT: "sometimes" }), {
    message: 'C1M_RECONNECT: expected 1/0 or true/false, got "sometimes"',
  });
});
