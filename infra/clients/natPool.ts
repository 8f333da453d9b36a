// Our own NAT rules ahead of Docker's, with a narrowed source-port pool for lab traffic: the
// experiment's small SNAT pool. Pure: bash scripts, run for real by the integration tests.
import { SUDO_PRELUDE, cmd, script } from "../shell.js";

export interface NatPoolArgs {
  /** Client network subnet (source of lab traffic). */
  source: string;
  /** Server subnet (destination). */
  destination: string;
  from: number;
  to: number;
  /** Marks the rule as ours: c1m-lab:<stack>. */
  comment: string;
  /** SNAT to this client-host address (host-ips); unset = MASQUERADE to the outgoing interface's address. */
  toSource?: string;
}

function natRule(a: NatPoolArgs): string {
  const target = a.toSource
    ? ["SNAT", "--to-source", `${a.toSource}:${a.from}-${a.to}`]
    : ["MASQUERADE", "--to-ports", `${a.from}-${a.to}`];
  return cmd(
    "POSTROUTING",
    "-s",
    a.source,
    "-d",
    a.destination,
    "-p",
    "tcp",
    "-m",
    "comment",
    "--comment",
    a.comment,
    "-j",
    ...target,
  );
}

// Without clients.natPortRange the step is still registered, with nothing to do: removing the key
// is then a replace of this step (the old rule deleted first, the clients restarted after it),
// not a delete at the end of the update, after clients that ramped through the old rule.
const NO_NAT_POOL = script("NAT pool: none (Docker's own MASQUERADE)", [":"]);

/** Our own NAT rules ahead of Docker's, one per client network, with a narrowed source-port pool for lab traffic. */
export function natPoolCreateScript(rules: NatPoolArgs[]): string {
  if (rules.length === 0) return NO_NAT_POOL;
  return script("NAT pool create", [
    ...SUDO_PRELUDE,
    ...rules.map(
      (a) =>
        `as_root iptables -t nat -C ${natRule(a)} 2>/dev/null || as_root iptables -t nat -I ${natRule(a).replace(/^POSTROUTING/, "POSTROUTING 1")}`,
    ),
  ]);
}

export function natPoolDeleteScript(rules: NatPoolArgs[]): string {
  if (rules.length === 0) return NO_NAT_POOL;
  return script("NAT pool delete", [
    ...SUDO_PRELUDE,
    ...rules.map((a) => `while as_root iptables -t nat -D ${natRule(a)} 2>/dev/null; do :; done`),
  ]);
}
