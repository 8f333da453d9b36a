// The judgement per client host (pure): each host's share of the run (the server's count from its
// source IPs, its containers, its conntrack, whether its Docker still answered), and the verdict's
// sentence naming hosts: a host lost during the test fails it by name; a host whose clients never
// connected and the hosts that fell short of their target (the one that limited) are named.
import { briefList, fmt, joinAnd, seconds } from "./format.js";
import type { HostShare } from "./hosts.js";
import { last } from "./series.js";
import type { Diagnosis } from "./summary.js";
import type { HostSummary, HostView, Run } from "./types.js";

/** The limits a host's own NAT, ports, conntrack or fds set (a host can be the one that binds). */
const HOST_LIMITS = new Set(["nat-pool", "container-port-range", "conntrack", "client-fd-limit"]);

const viewsOf = (run: Run, name: string): { t: number; v: HostView }[] =>
  run.observations.flatMap((o) => {
    const v = o.hosts?.find((h) => h.name === name);
    return v ? [{ t: o.t, v }] : [];
  });

export function summarizeHost(run: Run, share: HostShare): HostSummary {
  const views = viewsOf(run, share.name);
  const withServer = views.filter(({ v }) => v.server !== null);
  const answered = views.filter(({ v }) => v.error === null);
  const end = views.at(-1);
  let lost: HostSummary["lost"] = null;
  if (end && end.v.error !== null) {
    const lastOk = answered.at(-1);
    const since = lastOk ? (views.find(({ t, v }) => t > lastOk.t && v.error !== null)?.t ?? end.t) : 0;
    lost = { since, error: end.v.error };
  }
  const seen = answered.at(-1)?.v;
  const peak = withServer.length > 0 ? Math.max(...withServer.map(({ v }) => v.server!)) : null;
  const peakClients = Math.max(0, ...answered.map(({ v }) => v.clients?.established ?? 0));
  const mine = last(run.observations, (o) => o.clients?.some((c) => c.host === share.name) ?? false)?.clients ?? [];
  const ct = seen?.conntrack ?? null;
  return {
    name: share.name,
    docker: share.docker,
    target: share.target,
    predicted: share.predicted,
    bindingLimit: share.bindingLimit,
    capacity: share.capacity,
    server: withServer.at(-1)?.v.server ?? null,
    peak,
    clients: seen?.clients ?? null,
    conntrack: ct ? { count: ct.count, max: ct.max } : null,
    lost,
    neverConnected: share.target > 0 && (peak ?? 0) === 0 && peakClients === 0,
    lastError: mine.find((c) => c.host === share.name && c.lastError)?.lastError ?? null,
  };
}

/** "client host b was lost at 12.0 s (why)" / "client hosts b and c were unreachable throughout (why)". */
function lostSentence(lost: HostSummary[]): string {
  const names = lost.map((h) => h.name);
  const one = lost.length === 1;
  const when = lost.every((h) => h.lost!.since === 0)
    ? "unreachable throughout"
    : `lost at ${briefList(lost.map((h) => (h.lost!.since === 0 ? "the start" : seconds(h.lost!.since))))}`;
  const held = lost.map(
    (h) => `${h.name} ${h.server === null ? "unknown" : fmt(h.server)}${h.peak ? ` (peak ${fmt(h.peak)})` : ""}`,
  );
  return (
    `Client host${one ? "" : "s"} ${briefList(names)} ${one ? "was" : "were"} ${when} (${lost[0]!.lost!.error.replace(/^client host [^:]+: /, "")}): ` +
    `${one ? "its" : "their"} clients can no longer be seen; the server holds from ${one ? "it" : "them"}: ${briefList(held)}.`
  );
}

/** "Limited per client host: b 1,000 of 1,500 (nat-pool: 1 source IP × 1 server IP × 1,000 ports)", shortest-handed first. */
function limitedText(short: HostSummary[]): string {
  const items = short.map(
    (h) =>
      `${h.name} ${fmt(h.server ?? 0)} of ${fmt(h.target)} (${h.bindingLimit}: ${h.capacity}` +
      `${(h.server ?? 0) < h.predicted ? `; below its plan's ${fmt(h.predicted)}` : ""})`,
  );
  return `Limited per client host: ${briefList(items)}.`;
}

/** The diagnosis with its per-host table and the hosts named in its sentence (unchanged without hosts). */
export function withHosts(d: Diagnosis, shares: HostShare[], run: Run): Diagnosis {
  if (shares.length === 0) return d;
  const hosts = shares.map((s) => summarizeHost(run, s));
  const lost = hosts.filter((h) => h.lost !== null);
  const silent = hosts.filter((h) => h.neverConnected && h.lost === null);
  const short = hosts
    .filter((h) => h.server !== null && h.server < h.target)
    .sort((a, b) => a.server! - a.target - (b.server! - b.target) || a.name.localeCompare(b.name));
  let sentence = d.diagnosis;
  if (silent.length > 0) {
    const first = silent.find((h) => h.lastError);
    sentence += ` Client host${silent.length === 1 ? "" : "s"} ${briefList(silent.map((h) => h.name))}: no client connected (0 of ${joinAnd(silent.map((h) => fmt(h.target)))}${first ? `; ${first.name}'s clients say "${first.lastError}"` : ""}).`;
  }
  if (d.verdict !== "pass" && HOST_LIMITS.has(d.limit) && short.length > 0) sentence += ` ${limitedText(short)}`;
  if (lost.length > 0) {
    return { ...d, verdict: "fail", limit: "client-host-lost", diagnosis: `${lostSentence(lost)} Otherwise: ${sentence}`, hosts };
  }
  return { ...d, diagnosis: sentence, hosts };
}
