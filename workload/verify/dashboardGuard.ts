// Pure checks for the live dashboard's exposure: is an address loopback, and may a request with a
// given Host header be answered. The Host check defeats DNS rebinding: a hostile page whose name
// is re-pointed at 127.0.0.1 reaches the dashboard with `Host: its.own.name`, never with an IP
// literal or localhost, so only those are accepted.
import { BlockList, isIP } from "node:net";

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

const family = (ip: string) => (isIP(ip) === 6 ? "ipv6" : "ipv4");

/** 127.0.0.0/8, ::1 (any spelling, IPv4-mapped too) or the name localhost. */
export function isLoopback(address: string): boolean {
  if (address.toLowerCase() === "localhost") return true;
  return isIP(address) !== 0 && LOOPBACK.check(address, family(address));
}

/** Equal as addresses (a BlockList compares "::1" and "0:0:0:0:0:0:0:1" alike), else as names. */
function sameAddress(a: string, b: string): boolean {
  if (isIP(a) === 0 || isIP(b) === 0) return a.toLowerCase() === b.toLowerCase();
  const one = new BlockList();
  one.addAddress(a, family(a));
  return one.check(b, family(b));
}

/** 0.0.0.0 or :: (every interface). */
function isWildcard(address: string): boolean {
  return sameAddress(address, isIP(address) === 6 ? "::" : "0.0.0.0");
}

// A name or IPv4 literal, or a bracketed IPv6 literal; then an optional port.
const HOST_HEADER = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9.-]+))(?::\d{1,5})?$/i;

/** "evil.example:9180" → "evil.example", "[::1]:9180" → "::1"; null when malformed. */
export function hostnameOf(header: string): string | null {
  const m = HOST_HEADER.exec(header);
  if (!m) return null;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? m[1].toLowerCase() : null;
  return m[2]!.toLowerCase();
}

/**
 * May a request with this Host header be answered by a dashboard bound to `bound`? Yes for the
 * bound address, localhost and loopback literals, and any IP literal when bound to every interface.
 */
export function hostAllowed(header: string | undefined, bound: string): boolean {
  const name = header === undefined ? null : hostnameOf(header);
  if (name === null) return false;
  if (isLoopback(name) || sameAddress(name, bound)) return true;
  return isWildcard(bound) && isIP(name) !== 0;
}

/** The one line printed at start when the dashboard is reachable from other machines; else null. */
export function exposureWarning(bound: string): string | null {
  if (isLoopback(bound)) return null;
  return (
    `verify: warning: the live dashboard listens on ${bound}, reachable from other machines and unauthenticated; ` +
    "keep it on loopback with --dashboard 127.0.0.1:PORT (test.dashboard.host: 127.0.0.1)"
  );
}
