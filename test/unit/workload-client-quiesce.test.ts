// The lab's stop, first half (SIGHUP in client.ts): the client resets every connection it holds,
// keeps no timer going, and still exits on finish() afterwards.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseClientArgs } from "../../workload/client/config.js";
import { ConnectionClient } from "../../workload/client/connectionClient.js";
import { fakeTransport } from "../support/fakeTransport.js";
import type { Transport } from "../../workload/client/transport.js";

test("quiesce: every held connection reset once, a final status printed, later closes not counted; finish() then exits", async () => {
  const parsed = parseClientArgs(["--targets", "10.0.0.1:9000", "--connections", "5", "--ping-interval-seconds", "0"], {});
  if (parsed.help) throw new Error("unexpected --help");
  const resets: object[] = [];
  const statuses: boolean[] = [];
  const exits: number[] = [];
  let events: Parameters<typeof fakeTransport>[0] | undefined;
  const client: ConnectionClient = await new Promise((resolve) => {
    const c: ConnectionClient = new ConnectionClient(
      parsed.config,
      (s) => statuses.push(s.final),
      (code) => exits.push(code),
      () => resolve(c),
      {
        transport: (e) => {
          events = e;
          const t: Transport<object> = { ...fakeTransport(e, () => "connected"), reset: (conn) => void resets.push(conn) };
          return t;
        },
      },
    );
    c.start();
  });
  assert.equal(client.established, 5);
  assert.equal(client.quiesce(), 5);
  assert.equal(resets.length, 5);
  assert.equal(new Set(resets).size, 5, "five different connections");
  assert.deepEqual(
    statuses.filter((f) => f),
    [true],
    "one final status",
  );
  // The resets' close events arrive after: no drop is counted for them.
  for (const conn of resets) events!.closed(conn);
  assert.equal(client.dropped, 0);
  assert.equal(client.quiesce(), 0, "a second HUP does nothing");
  client.finish(0);
  assert.deepEqual(exits, [0]);
  assert.equal(resets.length, 5, "finish resets nothing again");
});
