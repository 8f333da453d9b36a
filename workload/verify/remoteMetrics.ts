// The server's metrics on a VM, where they listen on the VM's loopback: read through the ssh
// tunnel (sshTunnel.ts). The URL verify is given is the one on the host; these map it to the
// tunnel's local end and back, and name it in the test's messages as the host sees it. Pure
// except withTunnelErrors, which wraps a poll.
import type { SshTarget } from "./sshTunnel.js";
import type { Poll } from "./wait.js";

/** Where the tunnel forwards to on the host: the metrics URL's address and port. */
export function forwardTarget(metricsUrl: string): { host: string; port: number } {
  const u = new URL(metricsUrl);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port: u.port === "" ? (u.protocol === "https:" ? 443 : 80) : Number(u.port),
  };
}

/** The metrics URL with the tunnel's local end in place of the host's address (path kept). */
export function throughTunnel(metricsUrl: string, tunnelUrl: string): string {
  const u = new URL(metricsUrl);
  const t = new URL(tunnelUrl);
  u.protocol = t.protocol;
  u.host = t.host;
  return u.toString();
}

/** "http://127.0.0.1:9100/stats on c1m@10.202.0.2 (through ssh)": the stats as the messages name them. */
export function metricsWhere(stats: string, ssh: SshTarget | null | undefined): string {
  return ssh ? `${stats} on ${ssh.user}@${ssh.host} (through ssh)` : stats;
}

/** A failed read of /stats names the tunnel's own failure too (a refused login, a dropped session). */
export function withTunnelErrors(poll: Poll, lastError: () => string | null): Poll {
  return async () => {
    const o = await poll();
    const e = o.serverError !== null ? lastError() : null;
    return e ? { ...o, serverError: `${o.serverError} (${e})` } : o;
  };
}
