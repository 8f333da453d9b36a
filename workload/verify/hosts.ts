// Client hosts (clients.hosts) as the connection test sees them (pure): which hosts there are and
// how each is reached, the plan's share of each, what one poll saw of each (HostView), and the
// progress line's per-host part. The server's per-client-IP counts are the truth for each host's
// total (its source IPs are in the plan); a host's Docker and conntrack say why.
import { z } from "zod";
import type { ServerStats } from "../../shared/protocol.js";
import { fmt } from "./format.js";
import { ipSpread } from "./perIp.js";
import type { SshTarget } from "./sshTunnel.js";
import type { HostView, VerifyPlan } from "./types.js";

export type { HostView } from "./types.js";

/** One client host to observe: this machine's Docker, or one reached over ssh with its pinned host key. */
export type ClientHostTarget =
  | { name: string; docker: "local" }
  | {
      name: string;
      docker: SshTarget;
      /** The login key's file (root-only); unset: the ssh-agent at SSH_AUTH_SOCK. */
      identityFile?: string;
    };

const hostShareSchema = z.array(
  z.looseObject({
    name: z.string(),
    docker: z.string(),
    sources: z.array(z.string()),
    containers: z.number().int().nonnegative(),
    target: z.number().int().nonnegative(),
    predicted: z.number().int().nonnegative(),
    bindingLimit: z.string(),
    capacity: z.string(),
  }),
);

/** The plan's share of one host (CapacityPlan.hosts, as the plan JSON carries it). */
export type HostShare = z.infer<typeof hostShareSchema>[number];

/** The plan's per-host shares; [] for a plan without clients.hosts (or one that does not parse). */
export function hostShares(plan: VerifyPlan): HostShare[] {
  const parsed = hostShareSchema.safeParse((plan as { hosts?: unknown }).hosts ?? []);
  return parsed.success ? parsed.data : [];
}

/** Per host, the server's connections from its source IPs (null where a source is a name, not an address). */
export function serverPerHost(stats: ServerStats | null, shares: HostShare[]): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const h of shares) {
    const known = h.sources.every((s) => /^\d+\.\d+\.\d+\.\d+$/.test(s));
    out[h.name] = stats && known ? h.sources.reduce((sum, s) => sum + (stats.perRemoteIp[s] ?? 0), 0) : null;
  }
  return out;
}

/** A host's count as the progress line shows it: the server's, else its clients' established. */
const countOf = (h: HostView): number | null => h.server ?? h.clients?.established ?? null;

/**
 * The progress line's per-host part, most detailed first: every host, then a summary (spread,
 * unreachable and lagging hosts), then the summary with fewer names.
 */
export function hostsProgressVariants(hosts: HostView[] | undefined): string[] {
  if (!hosts || hosts.length === 0) return [""];
  const down = hosts.filter((h) => h.error !== null).map((h) => h.name);
  const mark = (h: HostView) => (h.error !== null ? " unreachable" : "");
  const each = (h: HostView) => `${h.name} ${countOf(h) === null ? "?" : fmt(countOf(h)!)}${mark(h)}`;
  const list = `hosts ${hosts.map(each).join(" · ")}`;
  const counts = Object.fromEntries(hosts.filter((h) => countOf(h) !== null).map((h) => [h.name, countOf(h)!]));
  const s = ipSpread(counts);
  const range =
    s === null ? "" : s.min === s.max ? ` ${fmt(s.min)} each` : ` ${fmt(s.min)}–${fmt(s.max)}, median ${fmt(s.median)}`;
  const summary = `${fmt(hosts.length)} hosts${range}`;
  const downText = (max: number) =>
    down.length === 0
      ? ""
      : `; unreachable ${down.slice(0, max).join(", ")}${down.length > max ? ` +${fmt(down.length - max)}` : ""}`;
  const lagText = s && s.lagging.length > 0 ? `; lagging ${s.lagging.map(([n, c]) => `${n} ${fmt(c)}`).join(", ")}` : "";
  return [
    list,
    `${summary}${downText(3)}${lagText}`,
    `${summary}${downText(3)}`,
    `${summary}${down.length > 0 ? `; ${fmt(down.length)} unreachable` : ""}`,
  ];
}
