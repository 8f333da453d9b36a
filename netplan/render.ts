// The netplan drop-in that gives the server its secondary addresses (the article's fix for the
// 64k NAT wall), and the lookup of the netplan ID the host already uses for the interface.
// Pure: no Pulumi, no I/O. Validation against the real `netplan generate` is in validate.ts.
//
// Why the same ID matters: netplan merges definitions that share an ID across files (lists such
// as `addresses` are appended), but a *different* ID that matches the same NIC becomes a second
// `10-netplan-<id>.network` file. systemd-networkd applies only the first .network file (in
// lexical order) that matches a link, so one of the two is silently ignored: either our
// addresses or the host's own config (its DHCP, its primary address).
import { Document, parse } from "yaml";

/** Where the drop-in goes on the host. 60- sorts after cloud-init (50-) and installers (00-). */
export const DROP_IN_NAME = "60-c1m-lab.yaml";
export const DROP_IN_PATH = `/etc/netplan/${DROP_IN_NAME}`;

/** netplan device sections whose definitions can carry `addresses`. */
export const DEVICE_TYPES = ["ethernets", "bonds", "bridges", "vlans", "wifis", "tunnels", "vrfs", "dummy-devices"] as const;
export type NetplanDeviceType = (typeof DEVICE_TYPES)[number];

export type NetplanRenderer = "networkd" | "NetworkManager";

export class NetplanError extends Error {
  override name = "NetplanError";
}

const NETPLAN_ID = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
const IFACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4_CIDR = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}/(?:3[0-2]|[12]\\d|[1-9])$`);
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;

/** True for an IPv4 address with a prefix length 1-32, written canonically (10.0.0.5/24). */
export function isIpv4Cidr(value: string): boolean {
  return IPV4_CIDR.test(value);
}

export function isNetplanId(value: string): boolean {
  return NETPLAN_ID.test(value);
}

export function isInterfaceName(value: string): boolean {
  return IFACE.test(value);
}

export interface NetplanDropInOptions {
  /** The ID the host's existing netplan config uses for the interface (see findNetplanId). */
  netplanId: string;
  /** Addresses to add, with prefix length: ["192.168.49.15/24", "192.168.49.25/24"]. */
  addresses: string[];
  /** Emitted as `network.renderer` only when given; leave unset to keep the host's renderer. */
  renderer?: NetplanRenderer;
  /** The section the ID lives in (findNetplanDevice tells); default ethernets. */
  deviceType?: NetplanDeviceType;
}

/** Checks the drop-in inputs; throws a NetplanError naming the bad argument and what is valid. */
export function checkDropInOptions(opts: NetplanDropInOptions): void {
  const where = "renderNetplanDropIn";
  if (typeof opts.netplanId !== "string" || !isNetplanId(opts.netplanId)) {
    throw new NetplanError(
      `${where}: netplanId ${JSON.stringify(opts.netplanId)} is not valid: use the ID of the existing netplan ` +
        `definition (1-64 letters, digits, '_', '.', '@', '-', starting with a letter or digit), e.g. ens3`,
    );
  }
  if (!Array.isArray(opts.addresses) || opts.addresses.length === 0) {
    throw new NetplanError(
      `${where}: addresses must list at least one address like 192.168.49.15/24; got ${JSON.stringify(opts.addresses)}`,
    );
  }
  const seen = new Set<string>();
  for (const [i, a] of opts.addresses.entries()) {
    if (typeof a !== "string" || !isIpv4Cidr(a)) {
      throw new NetplanError(
        `${where}: addresses[${i}] ${JSON.stringify(a)} is not valid: use an IPv4 address with prefix length ` +
          `like 192.168.49.15/24 (octets 0-255 without leading zeros, prefix 1-32)`,
      );
    }
    const ip = a.split("/")[0]!;
    if (seen.has(ip)) throw new NetplanError(`${where}: addresses[${i}] ${a} repeats address ${ip}; list each address once`);
    seen.add(ip);
  }
  if (opts.renderer !== undefined && opts.renderer !== "networkd" && opts.renderer !== "NetworkManager") {
    throw new NetplanError(
      `${where}: renderer ${JSON.stringify(opts.renderer)} is not valid: use networkd or NetworkManager (or leave it unset)`,
    );
  }
  if (opts.deviceType !== undefined && !(DEVICE_TYPES as readonly string[]).includes(opts.deviceType)) {
    throw new NetplanError(
      `${where}: deviceType ${JSON.stringify(opts.deviceType)} is not valid: use one of ${DEVICE_TYPES.join(", ")}`,
    );
  }
}

/** The YAML text of /etc/netplan/60-c1m-lab.yaml. */
export function renderNetplanDropIn(opts: NetplanDropInOptions): string {
  checkDropInOptions(opts);
  const network: Record<string, unknown> = { version: 2 };
  if (opts.renderer) network.renderer = opts.renderer;
  network[opts.deviceType ?? "ethernets"] = { [opts.netplanId]: { addresses: [...opts.addresses] } };
  const doc = new Document({ network });
  doc.commentBefore =
    " Written by c1m-lab: secondary server addresses, merged into the existing definition of\n" +
    ` ${opts.netplanId} (same netplan ID). Removed by pulumi destroy; other files are left alone.`;
  return doc.toString();
}

/** Where the interface is defined. */
export interface NetplanDevice {
  id: string;
  type: NetplanDeviceType;
  /** Files that define this ID, in netplan's order. */
  paths: string[];
}

export interface NetplanLink {
  name: string;
  mac?: string;
}

export interface FindNetplanOptions {
  /** The host's interfaces (name, MAC): resolve `match: {macaddress}` without `set-name`, and reject an interface that does not exist. */
  links?: NetplanLink[];
  /** File names left out (our own drop-in from an earlier run). Default: [DROP_IN_NAME]. */
  ignore?: string[];
}

/** The netplan ID whose definition configures `iface`; throws a NetplanError when none or several do. */
export function findNetplanId(
  existingYamlTexts: { path: string; text: string }[],
  iface: string,
  options: FindNetplanOptions = {},
): string {
  return findNetplanDevice(existingYamlTexts, iface, options).id;
}

/** Like findNetplanId, also telling the device section and the files. */
export function findNetplanDevice(
  existingYamlTexts: { path: string; text: string }[],
  iface: string,
  options: FindNetplanOptions = {},
): NetplanDevice {
  if (typeof iface !== "string" || !isInterfaceName(iface)) {
    throw new NetplanError(
      `findNetplanId: interface ${JSON.stringify(iface)} is not valid: use an interface name (1-15 letters, digits, '_', '.', '-'), e.g. ens3`,
    );
  }
  const links = options.links;
  if (links && !links.some((l) => l.name === iface)) {
    throw new NetplanError(
      `interface ${iface} does not exist on the host (it has: ${links.map((l) => l.name).join(", ") || "no interfaces"})`,
    );
  }
  const ignore = new Set(options.ignore ?? [DROP_IN_NAME]);
  const files = orderNetplanFiles(existingYamlTexts.filter((f) => !ignore.has(basename(f.path))));

  // Merge definitions per (type, id) across files, as netplan does.
  const defs = new Map<string, { id: string; type: NetplanDeviceType; def: Record<string, unknown>; paths: string[] }>();
  for (const file of files) {
    let doc: unknown;
    try {
      doc = parse(file.text);
    } catch (err) {
      throw new NetplanError(`netplan file ${file.path} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
    }
    const network = isMap(doc) ? doc.network : undefined;
    if (!isMap(network)) continue;
    for (const type of DEVICE_TYPES) {
      const section = network[type];
      if (!isMap(section)) continue;
      for (const [id, def] of Object.entries(section)) {
        const key = `${type}\0${id}`;
        const entry = defs.get(key) ?? { id, type, def: {}, paths: [] };
        entry.def = mergeMaps(entry.def, isMap(def) ? def : {});
        entry.paths.push(file.path);
        defs.set(key, entry);
      }
    }
  }

  const mac = links?.find((l) => l.name === iface)?.mac?.toLowerCase();
  const matching = [...defs.values()].filter((d) => resolvesTo(d.def, d.id, iface, mac));
  if (matching.length === 1) {
    const m = matching[0]!;
    return { id: m.id, type: m.type, paths: m.paths };
  }
  if (matching.length > 1) {
    throw new NetplanError(
      `interface ${iface} is configured by several netplan IDs (${matching.map((m) => `${m.id} in ${m.paths.join(", ")}`).join("; ")}): ` +
        `systemd-networkd applies only one of them; merge them into one ID before adding addresses`,
    );
  }
  const byFile = new Map<string, string[]>();
  for (const d of defs.values()) {
    const path = d.paths[0]!;
    byFile.set(path, [...(byFile.get(path) ?? []), describe(d.def, d.id)]);
  }
  const found = [...byFile].map(([path, ids]) => `${ids.join(" and ")} in ${path}`).join(", ");
  throw new NetplanError(
    `interface ${iface} is not in any netplan file: ` +
      (files.length === 0 ? "no netplan files were found" : found ? `found ${found}` : "the netplan files define no interfaces"),
  );
}

/** Whether the (merged) definition `def` with this ID configures the interface named `iface`. */
function resolvesTo(def: Record<string, unknown>, id: string, iface: string, mac: string | undefined): boolean {
  const setName = def["set-name"];
  if (typeof setName === "string") return setName === iface;
  const match = def.match;
  if (!isMap(match)) return id === iface;
  let evaluated = 0;
  if (typeof match.name === "string") {
    if (!globToRegExp(match.name).test(iface)) return false;
    evaluated++;
  }
  if (typeof match.macaddress === "string") {
    if (mac === undefined || match.macaddress.toLowerCase() !== mac) return false;
    evaluated++;
  }
  // `driver` cannot be checked from files alone: such a definition counts only if a name or MAC also matched.
  return evaluated > 0;
}

function describe(def: Record<string, unknown>, id: string): string {
  const setName = def["set-name"];
  if (typeof setName === "string" && setName !== id) return `${id} (set-name ${setName})`;
  const match = def.match;
  if (typeof setName !== "string" && isMap(match)) {
    const parts = Object.entries(match).map(([k, v]) => `${k} ${String(v)}`);
    return `${id} (match ${parts.join(", ")})`;
  }
  return id;
}

/** netplan reads /lib, /etc and /run/netplan; a /run file shadows /etc, which shadows /lib, by name; then name order. */
export function orderNetplanFiles<T extends { path: string }>(files: T[]): T[] {
  const rank = (p: string) =>
    p.includes("/run/netplan/") ? 3 : p.includes("/etc/netplan/") ? 2 : p.includes("/lib/netplan/") ? 1 : 0;
  const byName = new Map<string, T>();
  for (const f of files) {
    const name = basename(f.path);
    const prev = byName.get(name);
    if (!prev || rank(f.path) >= rank(prev.path)) byName.set(name, f);
  }
  return [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, f]) => f);
}

function mergeMaps(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    if (isMap(prev) && isMap(v)) out[k] = mergeMaps(prev, v);
    else if (Array.isArray(prev) && Array.isArray(v)) out[k] = [...prev, ...v];
    else out[k] = v;
  }
  return out;
}

/** fnmatch-style glob (*, ?, [...], [!...]) as used by netplan's `match: name`. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end === -1) re += "\\[";
      else {
        let body = glob.slice(i + 1, end);
        if (body.startsWith("!")) body = "^" + body.slice(1);
        re += `[${body.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

export function isMacAddress(value: string): boolean {
  return MAC.test(value);
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
