// The connection test's way to a VM's metrics, which listen on the VM's loopback: a local port
// forward over ssh (the ssh2 library), to a host that must present the pinned host key. A local
// listener on 127.0.0.1 (any free port) carries each HTTP connection to the metrics address on the
// host; the ssh session is opened once at the start (a refused host key or login fails the test
// there, with ssh's reason) and opened again when it drops mid-test.
import { createHash } from "node:crypto";
import net from "node:net";
import ssh2 from "ssh2";

export interface SshTarget {
  user: string;
  host: string;
  port: number;
  /** "ssh-ed25519 AAAA...": the only key the host may present. */
  hostKey: string;
}

/** How ssh logs in: the private key text, else the agent at this socket. */
export interface SshAuth {
  privateKey?: string;
  agent?: string;
}

export interface SshTunnel {
  /** http://127.0.0.1:<port>: the metrics on the host, through the tunnel. */
  readonly url: string;
  /** Why the last forward failed, if it did (for the test's error lines). */
  lastError(): string | null;
  close(): Promise<void>;
}

export class SshTunnelError extends Error {
  override name = "SshTunnelError";
}

/** "SHA256:…" as ssh-keygen -l prints it, of a key blob. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** "TYPE BASE64" → the key type and blob; throws on anything else. */
export function parsePinnedKey(line: string): { type: string; blob: Buffer } {
  const m = /^([a-z0-9@.-]+) ([A-Za-z0-9+/]+={0,2})$/.exec(line.trim());
  if (!m) throw new SshTunnelError(`the pinned host key ${JSON.stringify(line)} is not "TYPE BASE64" like 'ssh-ed25519 AAAA...'`);
  return { type: m[1]!, blob: Buffer.from(m[2]!, "base64") };
}

const where = (t: SshTarget) => `${t.user}@${t.host}:${t.port}`;

/** One ssh session to the target; rejects with a sentence (a refused host key says which key it saw). */
export function connect(target: SshTarget, auth: SshAuth, readyTimeoutMs: number): Promise<ssh2.Client> {
  const pinned = parsePinnedKey(target.hostKey);
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let presented: Buffer | null = null;
    client.once("ready", () => resolve(client));
    client.once("error", (err: Error) => {
      client.end();
      reject(
        new SshTunnelError(
          presented
            ? `ssh ${where(target)} presented host key ${fingerprint(presented)}, not the pinned ${fingerprint(pinned.blob)}: refused`
            : `ssh ${where(target)}: ${err.message}`,
        ),
      );
    });
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      ...(auth.privateKey ? { privateKey: auth.privateKey } : auth.agent ? { agent: auth.agent } : {}),
      // Ask for the pinned key's type only, then accept that key and no other.
      algorithms: { serverHostKey: [pinned.type as ssh2.ServerHostKeyAlgorithm] },
      hostVerifier: (key: Buffer) => {
        if (key.equals(pinned.blob)) return true;
        presented = key;
        return false;
      },
      readyTimeout: readyTimeoutMs,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
    });
  });
}

/**
 * Opens the session (or throws SshTunnelError), then listens on 127.0.0.1 and forwards each
 * connection to `to` as seen from the host. A dropped session is opened again on the next
 * connection, with the same pinned key.
 */
export async function openSshTunnel(
  target: SshTarget,
  to: { host: string; port: number },
  auth: SshAuth,
  opts: { readyTimeoutMs?: number } = {},
): Promise<SshTunnel> {
  if (!auth.privateKey && !auth.agent) {
    throw new SshTunnelError(
      `ssh ${where(target)}: no key to log in with (neither a private key nor an ssh-agent socket was given)`,
    );
  }
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
  let session: Promise<ssh2.Client> | null = connect(target, auth, readyTimeoutMs);
  let client = await session;
  let last: string | null = null;
  let closed = false;
  const sockets = new Set<net.Socket>();
  const watch = (c: ssh2.Client) =>
    c.on("close", () => {
      if (client === c) session = null;
    });
  watch(client);
  const current = (): Promise<ssh2.Client> => {
    session ??= connect(target, auth, readyTimeoutMs).then((c) => {
      client = watch(c);
      return c;
    });
    // A failed attempt is forgotten, so the next connection tries again.
    session.catch(() => (session = null));
    return session;
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    current().then(
      (c) =>
        c.forwardOut("127.0.0.1", 0, to.host, to.port, (err, stream) => {
          if (err) {
            last = `ssh ${where(target)}: forwarding to ${to.host}:${to.port} failed: ${err.message}`;
            socket.destroy();
            return;
          }
          socket.pipe(stream).pipe(socket);
          stream.on("error", () => socket.destroy());
          socket.on("close", () => stream.destroy());
        }),
      (err: Error) => {
        last = err.message;
        socket.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    lastError: () => last,
    close: async () => {
      if (closed) return;
      closed = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      client.end();
    },
  };
}
