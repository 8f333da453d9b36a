// Small text helpers shared by the diagnosis and the report (pure).

/** 64512 → "64,512". */
export const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");

/** "+1,234" / "−56" / "0". */
export function signed(n: number): string {
  if (n > 0) return `+${fmt(n)}`;
  if (n < 0) return `−${fmt(-n)}`;
  return "0";
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${fmt(n)} ${n === 1 ? one : many}`;
}

/** 0.9731 → "97.3%". */
export function percent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

/** Seconds with at most one decimal. */
export function seconds(s: number): string {
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/** "10.201.0.2:9000" / "[fd00::2]:9000" → the IP. */
export function ipOfHostPort(hostPort: string): string {
  const v6 = /^\[([^\]]+)\]:\d+$/.exec(hostPort);
  if (v6) return v6[1]!;
  const i = hostPort.lastIndexOf(":");
  return i > 0 && hostPort.indexOf(":") === i ? hostPort.slice(0, i) : hostPort;
}

/** ["a", "b", "c"] → "a, b and c". */
export function joinAnd(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

/** Later IPv4 addresses in the same /24 as the first shortened to their last octet: ".3". */
export function shortenIps(items: string[]): string[] {
  const prefix = /^(\d+\.\d+\.\d+)\.\d+$/.exec(items[0] ?? "")?.[1];
  return items.map((item, i) =>
    i > 0 && prefix !== undefined && /^\d+\.\d+\.\d+\.\d+$/.test(item) && item.startsWith(`${prefix}.`)
      ? item.slice(prefix.length)
      : item,
  );
}

/**
 * The article's way of listing addresses: "10.201.0.2, .3 and .4" (see shortenIps). Ports are
 * dropped when all agree.
 */
export function abbreviateAddresses(hostPorts: string[]): string {
  const ports = new Set(hostPorts.map((hp) => hp.slice(ipOfHostPort(hp).length)));
  return joinAnd(shortenIps(ports.size <= 1 ? hostPorts.map(ipOfHostPort) : hostPorts));
}

/** At most `max` items, then how many more: "a, b, c and 51 more". */
export function briefList(items: string[], max = 3): string {
  return items.length <= max ? joinAnd(items) : `${items.slice(0, max).join(", ")} and ${fmt(items.length - max)} more`;
}

/**
 * Word-wraps `text` to lines of at most `width` characters, every line after the first indented
 * by `indent` (a word longer than a line is cut).
 */
export function wrap(text: string, width: number, indent = ""): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line === "") line = word.slice(0, width);
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = `${indent}${word}`.slice(0, width);
    }
  }
  if (line !== "") lines.push(line);
  return lines;
}
