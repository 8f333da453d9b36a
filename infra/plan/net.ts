// IPv4 arithmetic for addresses the schema has already validated.

export function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/** "10.0.0.2/24" → "10.0.0.2"; a bare address is returned as is. */
export function addressOf(cidr: string): string {
  return cidr.split("/")[0]!;
}

export function prefixLengthOf(cidr: string): number {
  return Number(cidr.split("/")[1] ?? 32);
}

export function parseCidr(cidr: string): { address: string; prefix: number; network: string } {
  const address = addressOf(cidr);
  const prefix = prefixLengthOf(cidr);
  const size = 2 ** (32 - prefix);
  return { address, prefix, network: formatIpv4(Math.floor(ipv4ToInt(address) / size) * size) };
}

/** The i-th /24 inside a larger subnet (one Docker network per client source IP). */
export function subnetSlice(cidr: string, index: number, prefix = 24): string {
  const { network, prefix: outer } = parseCidr(cidr);
  if (prefix < outer) throw new Error(`cannot cut /${prefix} slices out of ${cidr}`);
  return `${formatIpv4(ipv4ToInt(network) + index * 2 ** (32 - prefix))}/${prefix}`;
}

/** "10.201.0.2/24" → "10.201.0.0/24". */
export function subnetOf(cidr: string): string {
  const { network, prefix } = parseCidr(cidr);
  return `${network}/${prefix}`;
}

/**
 * A list of addresses for a log line: all of them when few, else the count, the first two and
 * the last ("53: 10.201.6.3/24, 10.201.6.4/24 … 10.201.6.55/24"), so 53 addresses stay one
 * short line.
 */
export function briefAddresses(addresses: string[], max = 4): string {
  if (addresses.length === 0) return "none";
  if (addresses.length <= max) return addresses.join(", ");
  return `${addresses.length}: ${addresses.slice(0, 2).join(", ")} … ${addresses.at(-1)}`;
}
