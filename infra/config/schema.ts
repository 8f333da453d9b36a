// The whole stack config as one zod schema. Pulumi passes each top-level key of
// `Pulumi.<stack>.yaml` (`c1m-lab:server`, `c1m-lab:clients`, ...) as a JSON string; this module
// parses them, applies defaults and rejects bad values with the key path, the value and what
// would be valid. Every shape that later reaches a shell (addresses, interface and namespace
// names, sysctl keys and values, ports) is constrained here.
import { z } from "zod";
import { addressOf, parseCidr, formatIpv4, ipv4ToInt, prefixLengthOf } from "../plan/net.js";
import {
  JITTERS,
  PING_ANSWER_DUE_SECONDS,
  PING_HOLD_MARGIN_SECONDS,
  RECONNECT_DEFAULTS,
  TEST_SCENARIOS,
} from "../../shared/protocol.js";
import { scenarioIssues } from "./scenario.js";
import { clientHostIssues, clientHosts, parseSshUrl, type ClientHost } from "./clientHosts.js";
import { findLimitIssues, findLimitSettings, testMode } from "./findLimit.js";

const ifName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/, "an interface name: 1-15 letters, digits, '_', '.', '-'");
const nsName = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,31}$/, "a namespace name: 1-32 of a-z 0-9 _ . -");
const dnsName = z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, "a host name or IPv4 address");
const userName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "a Unix user name");
const ipv4 = z.ipv4({ error: "an IPv4 address like 10.201.0.2" });
const cidr = z.cidrv4({ error: "an IPv4 address with prefix length like 10.201.0.2/24" });
const port = z.number().int().min(1).max(65535);
const positiveInt = (max: number) => z.number().int().min(1).max(max);

/** "from-to" (or "from to"), 1..65535, from ≤ to. */
export const portRange = z
  .string()
  .regex(/^\d{1,5}[- ]\d{1,5}$/, "a port range like 40000-40999")
  .transform((s, ctx) => {
    const [from, to] = s.split(/[- ]/).map(Number) as [number, number];
    if (from < 1 || to > 65535 || from > to) {
      ctx.addIssue({ code: "custom", message: "a port range within 1-65535 with from <= to" });
      return z.NEVER;
    }
    return { from, to, size: to - from + 1 };
  });
export type PortRange = z.output<typeof portRange>;

/**
 * One entry of a list. Its message is a predicate ("is not ..."): parseLabConfig prefixes the
 * entry's path and value. A refinement on unknown, not a string schema: a failed type check
 * aborts, and a union holding the list (secondaryAddresses) would then report only its own
 * generic error, naming no entry.
 */
function listEntry(valid: (s: string) => boolean, message: (input: unknown) => string) {
  return z
    .unknown()
    .refine((v) => typeof v === "string" && valid(v), { error: (issue) => message(issue.input) })
    .transform((v) => v as string);
}
const isCidr = (s: string) => cidr.safeParse(s).success;
const cidrEntry = listEntry(isCidr, () => "is not an IPv4 address with prefix, like 10.201.0.3/24");
/** A bare address takes the primary's prefix length. */
const addressEntry = listEntry(
  (s) => isCidr(s) || ipv4.safeParse(s).success,
  (input) =>
    typeof input === "string" && input.includes("/")
      ? "is not an IPv4 address with prefix, like 10.201.0.3/24"
      : "is not an IPv4 address, like 10.201.0.3 or 10.201.0.3/24",
);

/** Secondary addresses: an explicit list, or a count that continues after the primary. */
const secondaryAddresses = z.union(
  [z.array(addressEntry).max(1024), z.object({ count: z.number().int().min(0).max(1024), start: ipv4.optional() }).strict()],
  { error: "a list of addresses like [10.201.0.3/24] or { count: 2, start: 10.201.0.3 }" },
);

const serverCommon = {
  /** The server's primary address, with prefix length. */
  primaryAddress: cidr,
  secondaryAddresses: secondaryAddresses.default([]),
  port: port.default(9000),
  metricsPort: port.default(9100),
  /** Worker processes; "auto" = as many as the plan needs for the fd limit. */
  workers: z.union([z.literal("auto"), positiveInt(1024)]).default("auto"),
};

const netnsServer = z
  .object({
    provider: z.literal("netns"),
    /** The namespace that stands for the server VM. */
    namespace: nsName.default("c1m-server"),
    /** Host side of the veth pair: the client host's address the NAT uses. */
    hostInterface: ifName.default("c1m-host"),
    hostAddress: cidr.default("10.201.0.1/24"),
    /** Namespace side of the veth pair: where the server addresses go. */
    interface: ifName.default("c1m-srv"),
    ...serverCommon,
    primaryAddress: cidr.default("10.201.0.2/24"),
  })
  .strict();

/**
 * Where the server's /stats, /metrics and /healthz listen on a VM (no authentication): loopback
 * by default, read by the connection test through an ssh tunnel. Another address (0.0.0.0, or
 * one of the server's) is allowed, with a warning (configWarnings).
 */
const metricsAddress = ipv4.default("127.0.0.1");

/**
 * How ssh authenticates to a VM or host: false = the `c1m-lab:sshPrivateKey` secret; true = the
 * ssh-agent at SSH_AUTH_SOCK (the key stays in the agent and the stack holds no secret). The
 * socket path is never stored: the command provider and ssh find it in their environment.
 */
const sshAgent = z.boolean().default(false);

const multipassServer = z
  .object({
    provider: z.literal("multipass"),
    instance: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,62}$/, "a multipass instance name (a-z, 0-9, -)")
      .default("c1m-server"),
    release: z
      .string()
      .regex(/^[a-z0-9.:-]{1,32}$/, "an Ubuntu release like 24.04")
      .default("24.04"),
    cpus: positiveInt(64).default(2),
    memory: z
      .string()
      .regex(/^\d+[KMG]$/, "a size like 4G")
      .default("4G"),
    disk: z
      .string()
      .regex(/^\d+[KMG]$/, "a size like 20G")
      .default("20G"),
    /** Path of the public key put in the VM (its private half is the `sshPrivateKey` secret). */
    sshPublicKeyPath: z
      .string()
      .regex(/^[A-Za-z0-9_./~-]+$/, "a file path")
      .default("~/.ssh/id_ed25519.pub"),
    user: userName.default("ubuntu"),
    sshAgent,
    interface: ifName.default("ens3"),
    ...serverCommon,
    metricsAddress,
  })
  .strict();

/**
 * A host key as `ssh-keyscan` prints it after the host name, or as the host's
 * /etc/ssh/ssh_host_*_key.pub holds it without the comment: "TYPE BASE64", the base64 a whole
 * key blob (length-prefixed fields, the first one TYPE again), so a truncated paste fails here.
 */
export function isHostKeyLine(s: string): boolean {
  const m = /^([a-z0-9@.-]{1,64}) ([A-Za-z0-9+/]+={0,2})$/.exec(s);
  if (!m) return false;
  const blob = Buffer.from(m[2]!, "base64");
  if (blob.toString("base64") !== m[2]) return false;
  const fields: Buffer[] = [];
  for (let at = 0; at < blob.length;) {
    if (at + 4 > blob.length) return false;
    const len = blob.readUInt32BE(at);
    if (at + 4 + len > blob.length) return false;
    fields.push(blob.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return fields.length >= 2 && fields[0]!.toString("latin1") === m[1];
}
const HOST_KEY_FORMAT_SHORT =
  "the host's public key as `ssh-keyscan -t ed25519 HOST` prints it after the host name, like 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...'";
const HOST_KEY_FORMAT =
  "the host's public key: the key type and key that `ssh-keyscan -t ed25519 HOST` prints after the host name, or the host's /etc/ssh/ssh_host_ed25519_key.pub without its comment, like 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...'";
const hostKey = z
  .string({
    error: (issue) =>
      issue.input === undefined
        ? `server.hostKey is required with provider ssh (so ssh talks to that host and no other); set it to ${HOST_KEY_FORMAT}`
        : `server.hostKey must be ${HOST_KEY_FORMAT}`,
  })
  .refine(isHostKeyLine, { error: `server.hostKey must be ${HOST_KEY_FORMAT}` });

const sshServer = z
  .object({
    provider: z.literal("ssh"),
    host: dnsName,
    user: userName,
    sshPort: port.default(22),
    sshAgent,
    /** The host's public key ("ssh-ed25519 AAAA..."): ssh (the wait step and every remote step) talks to no other machine. */
    hostKey,
    interface: ifName,
    /**
     * The clients also connect to primaryAddress, the host's own (perhaps public) address, and the
     * server listens there. Off by default: the server listens on the lab's secondary addresses only.
     */
    targetPrimary: z.boolean().default(false),
    ...serverCommon,
    metricsAddress,
  })
  .strict();

const localPath = z.string().regex(/^(~|~?\/[A-Za-z0-9_.+@/-]*)$/, "an absolute file path (or ~/...)");
const imageSource = z.union([localPath, z.string().regex(/^https?:\/\/[A-Za-z0-9._~:/?#@!$&()*+,;=%-]+$/, "an http(s) URL")], {
  error: "a local qcow2/raw image path (absolute or ~/...) or an http(s) URL (`npm run vm:image` builds one)",
});

const qemuServer = z
  .object({
    provider: z.literal("qemu"),
    /** auto: KVM when a probe boot shows it really runs guests, else TCG (software). */
    acceleration: z.enum(["auto", "kvm", "tcg"]).default("auto"),
    /** The base image (never written: each stack boots a copy-on-write overlay); a URL is downloaded once into a cache. */
    image: imageSource,
    /** Direct kernel boot (the vm:image output); unset = the image's own boot loader. */
    kernel: localPath.optional(),
    initrd: localPath.optional(),
    kernelArgs: z
      .string()
      .regex(/^[A-Za-z0-9_.,:=/ -]{1,512}$/, "kernel arguments like 'root=/dev/vda rw console=ttyS0'")
      .default("root=/dev/vda rw console=ttyS0 net.ifnames=0"),
    cpus: positiveInt(64).default(2),
    memoryMiB: z.number().int().min(256).max(1_048_576).default(2048),
    /** The lab-owned host bridge carrying the lab subnet (created, and removed on destroy). */
    bridge: ifName.default("c1m-br0"),
    tap: ifName.default("c1m-tap0"),
    /** This machine's address on the bridge: the clients' traffic is NAT'd to it. */
    hostAddress: cidr.default("10.202.0.1/24"),
    sshPublicKeyPath: localPath.default("~/.ssh/id_ed25519.pub"),
    user: userName.default("c1m"),
    sshAgent,
    /** The VM's interface (cloud-init names the NIC this by its MAC). */
    interface: ifName.default("eth0"),
    ...serverCommon,
    primaryAddress: cidr.default("10.202.0.2/24"),
    metricsAddress,
  })
  .strict();

const server = z.discriminatedUnion("provider", [netnsServer, multipassServer, sshServer, qemuServer], {
  error: (issue) => (issue.code === "invalid_union" ? "provider must be one of: netns, multipass, ssh, qemu" : undefined),
});

const sysctlKey = z.string().regex(/^(net|fs|kernel|vm)\.[a-z0-9_-]+(\.[a-z0-9_-]+)*$/, "a sysctl key like net.core.somaxconn");
const sysctlValue = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d+([ \t]+\d+)*$/, "a sysctl value of whole numbers like '1024 65535'"),
]);

const tuning = z
  .object({
    /** Extra or overriding sysctls: host keys on the server/NAT host, per-namespace keys where they belong. */
    sysctls: z
      .record(z.string(), sysctlValue)
      .superRefine((record, ctx) => {
        // Checked here rather than as the record's key schema, whose error drops our message.
        for (const key of Object.keys(record)) {
          if (!sysctlKey.safeParse(key).success) {
            ctx.addIssue({
              code: "custom",
              path: [key],
              message: `a sysctl key like net.core.somaxconn; got ${JSON.stringify(key)}`,
            });
          }
        }
      })
      .default({}),
    /** Raise host-wide limits (fs.file-max, fs.nr_open, nf_conntrack_max) when the plan needs it. */
    raiseHostLimits: z.boolean().default(true),
  })
  .strict();

export const LOCAL_DOCKER_HOST = "unix:///var/run/docker.sock";

const sourceIps = z.discriminatedUnion("strategy", [
  z.object({ strategy: z.literal("masquerade") }).strict(),
  z.object({ strategy: z.literal("host-ips"), addresses: z.array(cidrEntry).min(1).max(64) }).strict(),
  z.object({ strategy: z.literal("routed") }).strict(),
  z.object({ strategy: z.literal("both"), addresses: z.array(cidrEntry).min(1).max(64) }).strict(),
]);

/**
 * A client host's name: it names the host's resources, Docker objects, links (c1m-<name>-h) and
 * state directory, and reaches shell scripts, so a short safe identifier.
 */
const clientHostName = z
  .string()
  .regex(
    /^[a-z][a-z0-9]{0,7}$/,
    "a client host name: a lowercase letter, then up to 7 lowercase letters or digits (like b or rack2)",
  );

/** A client host's Docker engine: this machine's, or one reached over ssh (parsed in clientHosts.ts). */
const dockerEndpoint = z.string().refine((s) => s === "local" || parseSshUrl(s) !== null, {
  error: (issue) =>
    `docker must be "local" (this machine's Docker) or ssh://user@host[:port] (user a Unix user name, host a name or IPv4 address, port 1-65535); got ${JSON.stringify(issue.input)}`,
});

/** What a client host may set for itself; unset, it takes the value under clients. */
const clientHostOverrides = {
  containers: positiveInt(1000).optional(),
  connectionsPerContainer: positiveInt(1_000_000).optional(),
  sourceIps: sourceIps.optional(),
  natPortRange: portRange.optional(),
  subnet: cidr.optional(),
};

const clientHost = z
  .object({
    name: clientHostName,
    docker: dockerEndpoint,
    /** An ssh host's public key ("ssh-ed25519 AAAA..."): every ssh connection to it pins it. Not for a host the lab makes (netns). */
    hostKey: z
      .string()
      .refine(isHostKeyLine, { error: `hostKey must be ${HOST_KEY_FORMAT_SHORT}` })
      .optional(),
    /** ssh authenticates with the agent at SSH_AUTH_SOCK (true), or with the c1m-lab:sshPrivateKey secret (false). */
    sshAgent,
    /**
     * The lab makes this host on this machine: a network namespace at the ssh URL's address,
     * running its own dockerd and sshd, joined to this machine by a veth whose side here is
     * hostAddress. Its host key and the key ssh uses are made by the lab (no secret).
     */
    netns: z.object({ hostAddress: cidr }).strict().optional(),
    ...clientHostOverrides,
  })
  .strict();

/**
 * How a client waits before trying a failed connect again: retry n waits up to
 * min(capMs, baseMs * 2^(n-1)); full jitter picks a uniformly random wait below that (a crowd
 * comes back spread out), none waits exactly that long (the crowd comes back in step).
 */
const reconnect = z
  .object({
    baseMs: positiveInt(600_000).default(RECONNECT_DEFAULTS.baseMs),
    capMs: positiveInt(3_600_000).default(RECONNECT_DEFAULTS.capMs),
    jitter: z.enum(JITTERS).default(RECONNECT_DEFAULTS.jitter),
  })
  .strict()
  .refine((r) => r.capMs >= r.baseMs, {
    path: ["capMs"],
    error: (issue) => {
      const r = issue.input as { baseMs: number; capMs: number };
      return `capMs must be at least baseMs (${r.baseMs}); got ${r.capMs} (unset, it is ${RECONNECT_DEFAULTS.capMs})`;
    },
  })
  .prefault({});

const clients = z
  .object({
    /**
     * Docker host of the clients when clients.hosts is not set: this machine's socket. Clients on
     * other machines are listed in clients.hosts.
     */
    dockerHost: z
      .literal(LOCAL_DOCKER_HOST, {
        error: `only this machine's Docker, ${LOCAL_DOCKER_HOST}; list clients on other Docker hosts in clients.hosts instead (e.g. [{ name: a, docker: local }, { name: b, docker: "ssh://user@host", hostKey: "ssh-ed25519 AAAA..." }])`,
      })
      .default(LOCAL_DOCKER_HOST),
    /**
     * Client hosts, each with its own Docker engine, image, networks, NAT pool and tuning. Unset:
     * one host, this machine's Docker (every stack without it means what it always meant).
     */
    hosts: z.array(clientHost).min(1).max(64).optional(),
    containers: positiveInt(1000).default(3),
    connectionsPerContainer: positiveInt(1_000_000).default(5000),
    /** round-robin: every container spreads over all server addresses; per-container: container i → address i (the article). */
    assignment: z.enum(["round-robin", "per-container"]).default("round-robin"),
    /**
     * The order each container walks its addresses in: interleaved (one connect each in turn) or
     * blocks (its share for the first, then the next...). Same final split; at scale, blocks keeps
     * the server's accept work in a few worker processes at a time (measured: ~20% faster ramps).
     */
    targetOrder: z.enum(["interleaved", "blocks"]).default("interleaved"),
    connectRate: positiveInt(1_000_000).default(5000),
    maxInFlight: positiveInt(65_536).default(256),
    connectTimeoutMs: positiveInt(600_000).default(10_000),
    ping: z
      .object({
        payload: z
          .string()
          .regex(/^[\x20-\x7e]{0,256}$/, "printable ASCII, at most 256 characters")
          .default("ping"),
        intervalSeconds: positiveInt(86_400).default(100),
      })
      .strict()
      .prefault({}),
    reconnect,
    /** Narrow the NAT's source-port pool for lab traffic (shows the wall in seconds). */
    natPortRange: portRange.optional(),
    /** The containers' own ip_local_port_range; "docker-default" leaves 32768-60999. */
    localPortRange: z.union([z.literal("docker-default"), portRange]).prefault("1024-65535"),
    sourceIps: sourceIps.prefault({ strategy: "masquerade" }),
    /** Subnet of the lab's Docker network (one /24 slice per network when there are several). */
    subnet: cidr.default("172.30.201.0/24"),
    /**
     * The client image's base: any image with node ≥ 20 at /usr/local/bin/node, or host-node: one
     * made from this machine's own node (no registry needed; removed on destroy).
     */
    baseImage: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._/:@-]{0,254}$/, "host-node, or an image reference like node:20-bookworm-slim")
      .default("host-node"),
    /** Container restart policy. */
    restart: z.enum(["no", "on-failure", "unless-stopped"]).default("on-failure"),
  })
  .strict();

const test = z
  .object({
    /** hold: ramp to the plan's target and judge it; find-limit: step up to the capacity (test.findLimit). */
    mode: testMode,
    findLimit: findLimitSettings.optional(),
    /** all: every connection must be established; plateau: the wall is the point. */
    expect: z.enum(["all", "plateau"]).default("all"),
    timeoutSeconds: positiveInt(3600).default(120),
    /** No progress for this long = a plateau. */
    stallSeconds: positiveInt(600).default(10),
    /** Hold the connections this long after the ramp and count losses. */
    soakSeconds: z.number().int().min(0).max(86_400).default(0),
    /**
     * Bound on the p99 ping round trip during the hold, in ms (the clients' merged HDR
     * histograms); more than 1% of pings unanswered within PING_ANSWER_DUE_SECONDS also breaks it.
     * Needs pings during the hold: soakSeconds at least clients.ping.intervalSeconds +
     * PING_HOLD_MARGIN_SECONDS. Unset: round trips are only reported.
     */
    maxRttMs: z
      .number()
      .positive()
      .max(
        PING_ANSWER_DUE_SECONDS * 1000,
        `at most ${PING_ANSWER_DUE_SECONDS * 1000} ms: a ping unanswered after ${PING_ANSWER_DUE_SECONDS} s counts as lost`,
      )
      .optional(),
    /**
     * hold: ramp, hold, judge. reconnect-storm: after the hold the connection test restarts the
     * server under load (netns only) and the clients reconnect with clients.reconnect's backoff;
     * the verdict bounds the recovery by maxRecoverySeconds. conntrack-flush: after the hold the
     * test deletes the lab's conntrack entries on this machine (its client subnets' only) and
     * watches the held connections (pings at most every 10 s; no clients.hosts).
     */
    scenario: z.enum(TEST_SCENARIOS).default("hold"),
    /**
     * reconnect-storm: every connection must be back within this many seconds of the restart;
     * conntrack-flush: of the delete (it watches that long at most, 19 s at least). Default 60.
     */
    maxRecoverySeconds: positiveInt(3600).optional(),
    /**
     * The live dashboard of the ramp (false = none): loopback by default; port 0 = any free port.
     * Warning: it has no authentication; another host than loopback (e.g. 0.0.0.0) makes it
     * reachable from other machines (the test warns on stderr when it starts).
     */
    dashboard: z
      .union([
        z.literal(false),
        z
          .object({
            host: ipv4.default("127.0.0.1"),
            port: z.number().int().min(0).max(65535).default(9180),
            /** After the verdict, the page stays up this long (the test's command waits for it). */
            lingerSeconds: z.number().min(0).max(600).default(5),
          })
          .strict(),
      ])
      .prefault({}),
  })
  .strict();

export const labConfigSchema = z
  .object({
    server: server.prefault({ provider: "netns" }),
    tuning: tuning.prefault({}),
    clients: clients.prefault({}),
    test: test.prefault({}),
  })
  .strict()
  .transform((c, ctx) => {
    const prefix = prefixLengthOf(c.server.primaryAddress);
    const primary = addressOf(c.server.primaryAddress);
    const secondaries = Array.isArray(c.server.secondaryAddresses)
      ? c.server.secondaryAddresses.map((a) => (a.includes("/") ? a : `${a}/${prefix}`))
      : consecutive(
          c.server.secondaryAddresses.start ?? formatIpv4(ipv4ToInt(primary) + 1),
          c.server.secondaryAddresses.count,
          prefix,
        );
    const all = [c.server.primaryAddress, ...secondaries];
    const listed = Array.isArray(c.server.secondaryAddresses) ? c.server.secondaryAddresses : null;
    // Where server address i came from: primaryAddress, an entry of the list (named with its
    // value as written), or the { count } form.
    const from = (i: number): Origin =>
      i === 0
        ? { path: ["server", "primaryAddress"] }
        : listed
          ? { path: ["server", "secondaryAddresses", i - 1], entry: listed[i - 1]! }
          : { path: ["server", "secondaryAddresses"] };
    const seen = new Set<string>();
    for (const [i, a] of all.entries()) {
      const ip = addressOf(a);
      if (seen.has(ip)) addIssueAt(ctx, from(i), `address ${ip}`, "is listed twice; every server address must be distinct");
      seen.add(ip);
    }
    if (c.server.provider === "netns" || c.server.provider === "qemu") {
      const link = c.server.provider === "netns" ? "veth" : "bridge";
      const host = parseCidr(c.server.hostAddress);
      for (const [i, a] of all.entries()) {
        const s = parseCidr(a);
        if (s.network !== host.network || s.prefix !== host.prefix) {
          addIssueAt(
            ctx,
            from(i),
            `address ${a}`,
            `is outside the ${link} subnet of hostAddress ${c.server.hostAddress}; use addresses in that subnet`,
          );
          break;
        }
        if (s.address === host.address) {
          addIssueAt(ctx, from(i), `address ${a}`, "is the host side's own address (hostAddress); pick another");
        }
      }
      if (c.server.provider === "qemu") {
        if (c.server.bridge === c.server.tap) {
          ctx.addIssue({
            code: "custom",
            path: ["server", "tap"],
            message: `tap and bridge must differ (both are ${c.server.tap})`,
          });
        }
        if ((c.server.kernel === undefined) !== (c.server.initrd === undefined)) {
          ctx.addIssue({
            code: "custom",
            path: ["server", c.server.kernel === undefined ? "kernel" : "initrd"],
            message: "kernel and initrd go together (direct kernel boot); set both or neither",
          });
        }
      } else if (c.server.interface === c.server.hostInterface) {
        ctx.addIssue({
          code: "custom",
          path: ["server", "interface"],
          message: `interface and hostInterface must differ (both are ${c.server.interface})`,
        });
      }
    }
    if (c.server.provider !== "netns") {
      const ma = c.server.metricsAddress;
      if (!isLoopback(ma) && ma !== "0.0.0.0" && !all.some((a) => addressOf(a) === ma)) {
        ctx.addIssue({
          code: "custom",
          path: ["server", "metricsAddress"],
          message: `metricsAddress ${ma} is not an address of the server host: use 127.0.0.1 (the default; the test reads the metrics through ssh), 0.0.0.0, primaryAddress or one of secondaryAddresses`,
        });
      }
    }
    if (c.server.provider === "ssh" && !c.server.targetPrimary && all.length < 2) {
      ctx.addIssue({
        code: "custom",
        path: ["server", "secondaryAddresses"],
        message:
          "secondaryAddresses lists no address: on an ssh host the server listens on the lab's own secondary addresses only; add free addresses there, or set server.targetPrimary: true to test against the host's own primaryAddress",
      });
    }
    if (c.server.provider !== "netns") {
      // On a VM the server's unit runs as an unprivileged user (infra/server/vm/scripts/unit.ts).
      for (const key of ["port", "metricsPort"] as const) {
        if (c.server[key] < 1024) {
          ctx.addIssue({
            code: "custom",
            path: ["server", key],
            message: `${key} ${c.server[key]} is below 1024: on a ${c.server.provider} host the server runs as an unprivileged user, which cannot bind it; use 1024-65535`,
          });
        }
      }
    }
    if (c.server.metricsPort === c.server.port) {
      ctx.addIssue({
        code: "custom",
        path: ["server", "metricsPort"],
        message: `metricsPort must differ from port ${c.server.port}`,
      });
    }
    if (c.clients.sourceIps.strategy === "both" && all.length < 2) {
      ctx.addIssue({
        code: "custom",
        path: ["clients", "sourceIps", "strategy"],
        message:
          "strategy 'both' means several client IPs and several server IPs; add server.secondaryAddresses or use 'host-ips'",
      });
    }
    if (c.clients.sourceIps.strategy === "host-ips" || c.clients.sourceIps.strategy === "both") {
      // One Docker network (a /24 of clients.subnet) per client source IP.
      const networks = c.clients.sourceIps.addresses.length;
      if (2 ** (24 - prefixLengthOf(c.clients.subnet)) < networks) {
        ctx.addIssue({
          code: "custom",
          path: ["clients", "subnet"],
          message: `clients.subnet ${c.clients.subnet} must hold one /24 per client source IP (${networks}); use a /${24 - Math.ceil(Math.log2(networks))} or larger`,
        });
      }
      if (c.server.provider === "netns") {
        const host = parseCidr(c.server.hostAddress);
        for (const [i, a] of c.clients.sourceIps.addresses.entries()) {
          const p = parseCidr(a);
          if (p.network !== host.network || p.prefix !== host.prefix) {
            addIssueAt(
              ctx,
              { path: ["clients", "sourceIps", "addresses", i], entry: a },
              `client source address ${a}`,
              `is outside the veth subnet of hostAddress ${c.server.hostAddress}; use addresses in that subnet`,
            );
          }
        }
      }
      const used = new Set(all.map(addressOf));
      for (const [i, a] of c.clients.sourceIps.addresses.entries()) {
        if (used.has(addressOf(a))) {
          addIssueAt(
            ctx,
            { path: ["clients", "sourceIps", "addresses", i], entry: a },
            `address ${a}`,
            "is already a server address",
          );
        }
      }
    }
    for (const issue of clientHostIssues(c.clients, c.server)) ctx.addIssue({ code: "custom", ...issue });
    for (const issue of findLimitIssues(c)) ctx.addIssue({ code: "custom", ...issue });
    // find-limit bounds each step's hold instead (findLimitIssues).
    if (
      c.test.mode === "hold" &&
      c.test.maxRttMs !== undefined &&
      c.test.soakSeconds < c.clients.ping.intervalSeconds + PING_HOLD_MARGIN_SECONDS
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["test", "maxRttMs"],
        message: `maxRttMs bounds the round trips of the hold's pings, but clients ping every ${c.clients.ping.intervalSeconds} s and the hold (test.soakSeconds) lasts ${c.test.soakSeconds} s: make test.soakSeconds at least clients.ping.intervalSeconds + ${PING_HOLD_MARGIN_SECONDS}`,
      });
    }
    for (const issue of scenarioIssues(c)) ctx.addIssue({ code: "custom", ...issue });
    // The addresses the clients connect to and the server listens on: on an adopted ssh host the
    // host's own primary only when targetPrimary says so.
    const targets = c.server.provider === "ssh" && !c.server.targetPrimary ? all.slice(1) : all;
    return { ...c, server: { ...c.server, addresses: targets } };
  });

const isLoopback = (ip: string) => ip.startsWith("127.");

/** What is valid but worth a word before `up` (printed as warnings): a metrics endpoint off loopback. */
export function configWarnings(config: LabConfig): string[] {
  const server = config.server;
  if (server.provider === "netns" || isLoopback(server.metricsAddress)) return [];
  return [
    `server.metricsAddress is ${server.metricsAddress}, not loopback: the server's /stats, /metrics and /healthz (no authentication) ` +
      `are reachable from every network that reaches ${server.metricsAddress === "0.0.0.0" ? "any address of the host" : server.metricsAddress}; ` +
      `the connection test reads them through ssh either way, so 127.0.0.1 (the default) is enough for the lab`,
  ];
}

/** Where a config value came from: a key, or an entry of a list (with its value as written). */
interface Origin {
  path: (string | number)[];
  entry?: string;
}

/**
 * A cross-field issue: on a list entry, a predicate ("is listed twice") that the error output
 * prefixes with the entry's path and value; elsewhere a sentence about `subject`.
 */
function addIssueAt(ctx: z.RefinementCtx, at: Origin, subject: string, predicate: string): void {
  ctx.addIssue(
    at.entry !== undefined
      ? { code: "custom", path: at.path, input: at.entry, message: predicate }
      : { code: "custom", path: at.path, message: `${subject} ${predicate}` },
  );
}

function consecutive(start: string, count: number, prefix: number): string[] {
  const first = ipv4ToInt(start);
  return Array.from({ length: count }, (_, i) => `${formatIpv4(first + i)}/${prefix}`);
}

export type LabConfigInput = z.input<typeof labConfigSchema>;
export type LabConfig = z.output<typeof labConfigSchema>;
export type ServerConfig = LabConfig["server"];
export type ClientsConfig = LabConfig["clients"];
export type SourceIps = ClientsConfig["sourceIps"];

/** The top-level config keys under the `c1m-lab:` namespace. */
export const CONFIG_KEYS = ["server", "tuning", "clients", "test"] as const;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Parses raw stack config (key → JSON string or value, as Pulumi hands it over) into a
 * validated LabConfig, or throws a ConfigError whose message names every bad key path.
 */
export function parseLabConfig(raw: Partial<Record<string, unknown>>): LabConfig {
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`Invalid c1m-lab config:\n✖ Unknown key c1m-lab:${key}\n  → valid keys: ${CONFIG_KEYS.join(", ")}`);
    }
    input[key] = typeof value === "string" ? parseJson(key, value) : value;
  }
  const result = labConfigSchema.safeParse(input, { reportInput: true });
  if (!result.success) throw new ConfigError(`Invalid c1m-lab config:\n${formatIssues(result.error.issues)}`);
  return result.data;
}

/**
 * z.prettifyError's layout ("✖ message" then "→ at path", shortest paths first), naming the
 * value given too: zod's messages say what is valid, not what was given. An entry of a list
 * reads as one line, `path[i]: "value" is not ...` (its message is a predicate).
 */
export function formatIssues(issues: z.core.$ZodIssue[]): string {
  const value = (v: unknown) => (JSON.stringify(v) ?? String(v)).slice(0, 80);
  return [...issues]
    .sort((a, b) => a.path.length - b.path.length)
    .map((issue) => {
      const path = z.core.toDotPath(issue.path);
      if (issue.path.some((seg) => typeof seg === "number")) return `✖ ${path}: ${value(issue.input)} ${issue.message}`;
      const got = issue.input !== undefined && typeof issue.input !== "object" ? `; got ${value(issue.input)}` : "";
      return `✖ ${issue.message}${got}${issue.path.length > 0 ? `\n  → at ${path}` : ""}`;
    })
    .join("\n");
}

function parseJson(key: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfigError(`Invalid c1m-lab config:\n✖ c1m-lab:${key} must be an object (YAML map), got ${JSON.stringify(text)}`);
  }
}

/** One client host, resolved: clients.hosts[i] with the clients defaults, or the implicit local host. */
export type ClientHostConfig = ClientHost<SourceIps, PortRange>;

/** The stack's client hosts (one implicit local host without clients.hosts). */
export function labClientHosts(config: LabConfig, stack?: string): ClientHostConfig[] {
  return clientHosts<SourceIps, PortRange>(config.clients, stack);
}
