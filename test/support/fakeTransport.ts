// A client transport that makes no sockets, for driving the client's real pacing and retry logic
// in unit tests: each connect is settled a microtask later, as `outcome` says.
import type { FailureClass } from "../../shared/protocol.js";
import type { ClientConfig } from "../../workload/client/config.js";
import { ConnectionClient, type ClientOptions } from "../../workload/client/connectionClient.js";
import type { ConnectionEvents, Transport } from "../../workload/client/transport.js";

/** Runs a client (over options.transport) until its ramp is over, then stops it. */
export async function runRamp(config: ClientConfig, options: ClientOptions): Promise<void> {
  let client: ConnectionClient | undefined;
  await new Promise<void>((resolve) => {
    client = new ConnectionClient(
      config,
      () => {},
      () => {},
      resolve,
      options,
    );
    client.start();
  });
  client!.finish(0);
}

export function fakeTransport(
  events: ConnectionEvents<object>,
  outcome: (target: number, source: number) => "connected" | FailureClass,
): Transport<object> {
  return {
    kind: "net",
    connect(target, source) {
      const conn = {};
      const result = outcome(target, source);
      queueMicrotask(() => {
        if (result === "connected") return events.connected(conn);
        events.failed(conn, result);
        events.closed(conn);
      });
      return conn;
    },
    abort() {},
    write() {},
    isOpen: () => true,
    reset() {},
  };
}
