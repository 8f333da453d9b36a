// What the client side needs from the server side, whichever backend built it.
import type * as pulumi from "@pulumi/pulumi";
import type { MetricsTunnel } from "../check/args.js";

export interface ServerSide {
  /** The server's primary lab address. */
  address: pulumi.Output<string>;
  /** The running connection server: clients wait for it and restart when its step id changes. */
  server: pulumi.Resource & { stepId: pulumi.Output<string>; metricsUrl: pulumi.Output<string> };
  /** A VM: the metrics listen on the host (loopback by default); the test reads them through ssh. */
  metricsTunnel?: pulumi.Output<MetricsTunnel>;
}
