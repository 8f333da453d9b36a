// Small validators shared by the server's and the client's command lines. They throw UsageError,
// which the entry points turn into a message on stderr and exit code 2.
import { isIP } from "node:net";
import { parseArgs, type ParseArgsConfig } from "node:util";

export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Strict flags (no positionals) as a UsageError naming the bad flag, and for an unknown one the
 * valid flags.
 */
export function parseFlags<const O extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const e = err as { code?: string; message: string };
    const msg = e.message.replace(/\. To specify a positional argument.*$/s, "").replace(/\s*\n\s*/g, " ");
    if (e.code !== "ERR_PARSE_ARGS_UNKNOWN_OPTION") throw new UsageError(msg);
    const valid = Object.keys(options)
      .map((k) => `--${k}`)
      .join(", ");
    throw new UsageError(`${msg}; valid options: ${valid}`);
  }
}

export function parseIntOption(
  name: string,
  raw: string,
  { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): number {
  const text = raw.trim();
  if (!/^\d+$/.test(text)) throw new UsageError(`${name}: expected a whole number, got "${raw}"`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${name}: ${n} is out of range [${min}, ${max}]`);
  return n;
}

export function parseNumberOption(name: string, raw: string, { min = 0 }: { min?: number } = {}): number {
  const text = raw.trim();
  const n = Number(text);
  if (text === "" || !Number.isFinite(n)) throw new UsageError(`${name}: expected a number, got "${raw}"`);
  if (n < min) throw new UsageError(`${name}: ${n} is below ${min}`);
  return n;
}

export function parseBoolOption(name: string, raw: string): boolean {
  const text = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(text)) return true;
  if (["", "0", "false", "no", "off"].includes(text)) return false;
  throw new UsageError(`${name}: expected 1/0 or true/false, got "${raw}"`);
}

/** "a,b, c" → ["a","b","c"], empty items dropped. */
export function splitList(raw: string): string[] {
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

export function parseIpList(name: string, raw: string): string[] {
  const ips = splitList(raw);
  for (const ip of ips) if (isIP(ip) === 0) throw new UsageError(`${name}: "${ip}" is not an IP address`);
  return ips;
}

export interface HostPort {
  host: string;
  port: number;
}

/** "10.0.0.2:9000" or "[fd00::2]:9000" (an IP literal, not a name: the lab never resolves DNS). */
export function parseHostPort(name: string, raw: string): HostPort {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(raw) ?? /^([^:]+):(\d+)$/.exec(raw);
  if (!m || isIP(m[1]!) === 0) throw new UsageError(`${name}: "${raw}" is not IP:PORT`);
  return { host: m[1]!, port: parseIntOption(name, m[2]!, { min: 1, max: 65535 }) };
}

/** "ip:port" for IPv4, "[ip]:port" for IPv6: the key format of ServerStats. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
