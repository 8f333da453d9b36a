// A client host reached over ssh, as the connection test reads it: one ssh session (ssh2, the
// pinned host key; sshTunnel.connect) carrying the Docker API (each HTTP connection is a
// `docker system dial-stdio` channel, kept alive across polls, as the docker CLI does over
// ssh) and the host's conntrack (`cat` of its /proc files). A dropped session is opened again at
// the next request; until then each request fails with ssh's reason, naming the host.
import http from "node:http";
import type { Duplex } from "node:stream";
import Docker from "dockerode";
import type ssh2 from "ssh2";
import { connect, type SshAuth, type SshTarget } from "./sshTunnel.js";
import { parseProcConntrackStat, type ConntrackResult } from "./observe.js";
import type { ConntrackReading } from "./types.js";

export interface SshHost {
  readonly docker: Docker;
  conntrack(timeoutMs?: number): Promise<ConntrackResult>;
  close(): void;
}

/** Channels per session: sshd allows 10 (MaxSessions); the Docker API gets 6, conntrack the rest. */
const DOCKER_CHANNELS = 6;

/** The conntrack files of the host's network namespace (count, max, then the per-CPU stat table). */
export const CONNTRACK_COMMAND =
  "cat /proc/sys/net/netfilter/nf_conntrack_count /proc/sys/net/netfilter/nf_conntrack_max /proc/net/stat/nf_conntrack";

/** The output of CONNTRACK_COMMAND → a reading; throws on anything else. */
export function parseRemoteConntrack(text: string): ConntrackReading {
  const [count, max, ...stat] = text.split("\n");
  if (!/^\d+$/.test(count?.trim() ?? "") || !/^\d+$/.test(max?.trim() ?? "")) throw new Error("no conntrack count/max");
  return { count: Number(count), max: Number(max), ...parseProcConntrackStat(stat.join("\n")) };
}

/** Gives net.Socket's few methods that http's client calls to an ssh channel. */
function asSocket(stream: Duplex): Duplex {
  const s = stream as Duplex & Record<string, unknown>;
  for (const m of ["setKeepAlive", "setNoDelay", "ref", "unref"]) s[m] ??= () => s;
  s.setTimeout ??= () => s;
  return s;
}

export function openSshHost(target: SshTarget, auth: SshAuth, opts: { timeoutMs?: number } = {}): SshHost {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const where = `${target.user}@${target.host}:${target.port}`;
  let session: Promise<ssh2.Client> | null = null;
  let closed = false;
  const current = (): Promise<ssh2.Client> => {
    if (closed) return Promise.reject(new Error(`ssh ${where}: closed`));
    if (!session) {
      const s = connect(target, auth, timeoutMs);
      session = s;
      s.then(
        (c) => c.on("close", () => session === s && (session = null)),
        () => session === s && (session = null),
      );
    }
    return session;
  };
  const exec = (command: string) =>
    current().then(
      (c) =>
        new Promise<ssh2.ClientChannel>((resolve, reject) =>
          c.exec(command, (err, stream) => (err ? reject(new Error(`ssh ${where}: ${err.message}`)) : resolve(stream))),
        ),
    );

  const agent = new http.Agent({ keepAlive: true, maxSockets: DOCKER_CHANNELS });
  // Node's Agent takes a connection made later through the callback.
  (agent as unknown as { createConnection: unknown }).createConnection = (
    _o: unknown,
    done: (err: Error | null, s?: Duplex) => void,
  ) => {
    exec("docker system dial-stdio").then(
      (stream) => done(null, asSocket(stream)),
      (err: Error) => done(err),
    );
    return undefined;
  };
  // dockerode's typings lack `agent`, which docker-modem passes on to every request.
  const docker = new Docker({ protocol: "http", host: "docker", port: 2375, agent, timeout: timeoutMs } as Docker.DockerOptions);

  const conntrack = async (limitMs = 5000): Promise<ConntrackResult> => {
    try {
      const stream = await exec(CONNTRACK_COMMAND);
      const text = await new Promise<string>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => {
          stream.close();
          reject(new Error(`no answer within ${limitMs} ms`));
        }, limitMs);
        stream.on("data", (d: Buffer) => (out += d.toString("utf8")));
        stream.stderr.resume();
        stream.on("close", () => {
          clearTimeout(timer);
          resolve(out);
        });
      });
      try {
        return { ok: true, reading: parseRemoteConntrack(text) };
      } catch {
        return { ok: false, error: `nf_conntrack is not loaded on ${where}` };
      }
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  };

  return {
    docker,
    conntrack,
    close: () => {
      closed = true;
      agent.destroy();
      session?.then(
        (c) => c.end(),
        () => undefined,
      );
    },
  };
}
