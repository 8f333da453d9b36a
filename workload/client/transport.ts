// How the client opens, writes to and gives up connections: bare TCP handles where Node has
// them (see ../tcpHandles.ts), net.Socket otherwise. Both report through the same three events.
import net from "node:net";
import type { FailureClass } from "../../shared/protocol.js";
import type { HostPort } from "../cliArgs.js";
import { tcpHandleBindings, uvError, type TcpHandle, type TcpHandleBindings } from "../tcpHandles.js";
import { classifyError } from "./errors.js";

export interface ConnectionEvents<C> {
  connected(conn: C): void;
  /** Why a connection failed or ended; closed(conn) follows. */
  failed(conn: C, failure: FailureClass): void;
  /** The connection is gone: a connect that failed, or an established one closed or reset. */
  closed(conn: C): void;
  /** Bytes arrived (the server's echoes): `length` bytes of `data`, valid during the call only. */
  received(data: Uint8Array, length: number): void;
}

export interface Transport<C> {
  readonly kind: "handles" | "net";
  /** Connects to targets[target] from sources[source] (undefined: the kernel picks). */
  connect(target: number, source: number): C;
  /** Gives a pending connect up: failed(conn, class of reason) and closed(conn) follow. */
  abort(conn: C, reason: Error): void;
  /** Best effort: a broken connection shows up as it closing. */
  write(conn: C, payload: Buffer): void;
  isOpen(conn: C): boolean;
  /** Closes at once with a reset (SO_LINGER 0), no events: for a client that is exiting. */
  reset(conn: C): void;
}

// The server echoes pings: reads land in one shared buffer, are handed to received() and dropped.
const READ_BUFFER = Buffer.allocUnsafe(16 * 1024);

export function netTransport(
  targets: HostPort[],
  sources: Array<string | undefined>,
  events: ConnectionEvents<net.Socket>,
): Transport<net.Socket> {
  const onread = {
    buffer: READ_BUFFER,
    callback: (n: number, buf: Uint8Array): boolean => {
      events.received(buf, n);
      return true; // false would pause reading
    },
  };
  // Prebuilt options per (target, source): net copies them, so one object serves every connect.
  const options = targets.map((t) =>
    sources.map((localAddress) => {
      const o: net.TcpNetConnectOpts = { host: t.host, port: t.port, onread, keepAlive: false };
      if (localAddress !== undefined) o.localAddress = localAddress;
      return o;
    }),
  );
  // One function object per listener, shared by every socket (`this` is the socket).
  function onConnect(this: net.Socket): void {
    events.connected(this);
  }
  function onError(this: net.Socket, err: Error): void {
    events.failed(this, classifyError(err));
  }
  function onClose(this: net.Socket): void {
    events.closed(this);
  }
  return {
    kind: "net",
    connect(target, source) {
      const socket = net.connect(options[target]![source]!);
      // 'connect' fires at most once: a plain listener avoids once()'s wrapper closure.
      socket.on("connect", onConnect);
      socket.on("error", onError);
      socket.on("close", onClose);
      return socket;
    },
    abort: (socket, reason) => void socket.destroy(reason),
    write(socket, payload) {
      if (!socket.destroyed && socket.writable) socket.write(payload);
    },
    isOpen: (socket) => !socket.destroyed,
    reset(socket) {
      socket.removeListener("close", onClose);
      // resetAndDestroy() throws on a socket that has not connected yet.
      if (socket.pending) socket.destroy();
      else socket.resetAndDestroy();
    },
  };
}

const CONNECTING = 0;
const OPEN = 1;
const GONE = 2;

export interface ClientHandle extends TcpHandle {
  c1mState: number;
}

/** null when Node lacks the handle bindings or a target or source is not an IP literal. */
export function handleTransport(
  targets: HostPort[],
  sources: Array<string | undefined>,
  events: ConnectionEvents<ClientHandle>,
  bindings: TcpHandleBindings | null = tcpHandleBindings(),
): Transport<ClientHandle> | null {
  if (bindings === null) return null;
  if (!targets.every((t) => net.isIP(t.host) !== 0) || !sources.every((s) => s === undefined || net.isIP(s) !== 0)) {
    return null;
  }
  const noop = (): void => {};

  function end(h: ClientHandle): void {
    if (h.c1mState === GONE) return;
    h.c1mState = GONE;
    h.close();
    events.closed(h);
  }
  function fail(h: ClientHandle, err: Error): void {
    if (h.c1mState === GONE) return;
    events.failed(h, classifyError(err));
    end(h);
  }
  function onread(this: TcpHandle): void {
    const n = bindings!.lastRead();
    if (n < 0)
      end(this as ClientHandle); // EOF or reset
    else if (n > 0) events.received(READ_BUFFER, n);
  }
  function oncomplete(status: number, handle: TcpHandle): void {
    const h = handle as ClientHandle;
    if (h.c1mState !== CONNECTING) return; // given up already
    if (status !== 0) return fail(h, uvError(status, "connect"));
    h.c1mState = OPEN;
    h.useUserBuffer(READ_BUFFER);
    h.onread = onread;
    const err = h.readStart();
    events.connected(h);
    if (err !== 0) fail(h, uvError(err, "read"));
  }

  return {
    kind: "handles",
    connect(target, source) {
      const { host, port } = targets[target]!;
      const local = sources[source];
      const v6 = net.isIPv6(host);
      const h = bindings.newSocket() as ClientHandle;
      h.c1mState = CONNECTING;
      let err = local === undefined ? 0 : v6 ? h.bind6(local, 0, 0) : h.bind(local, 0);
      if (err === 0) {
        const req = bindings.newConnectReq();
        req.oncomplete = oncomplete;
        err = v6 ? h.connect6(req, host, port) : h.connect(req, host, port);
      }
      // Failed before any I/O (e.g. EADDRNOTAVAIL): report after the caller has registered it.
      if (err !== 0) process.nextTick(fail, h, uvError(err, "connect"));
      return h;
    },
    abort(h, reason) {
      if (h.c1mState === CONNECTING) fail(h, reason);
    },
    write(h, payload) {
      if (h.c1mState !== OPEN) return;
      const req = bindings.newWriteReq();
      req.handle = h;
      req.oncomplete = noop;
      req.async = false;
      req.buffer = payload; // a ping frame lives one tick: a write still pending must keep it
      h.writeBuffer(req, payload);
    },
    isOpen: (h) => h.c1mState !== GONE,
    reset(h) {
      if (h.c1mState === GONE) return;
      h.c1mState = GONE;
      if (typeof h.reset === "function") h.reset();
      else h.close();
    },
  };
}
