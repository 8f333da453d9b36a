// Accepted connections held as the bare libuv TCP handles that Node's net module wraps, without
// a net.Socket around each (two stream states, an EventEmitter, listeners, a nextTick per
// resume). An idle connection needs none of that: read whatever arrives into one shared buffer,
// notice the end, close. Measured on loopback with the real client, a worker's JS per accept
// drops from 30 to 7 µs when busy, and from 103 to 22 µs when accepts trickle in (300/s, the
// regime of each of 54 workers sharing a 1M ramp), where a ramp is CPU-bound on both ends.
//
// The handle API is Node's internal one, reached through process.binding('stream_wrap'), which
// Node documents as deprecated but still ships (12 through 24). If it is missing or looks
// different, rawAcceptOf() returns null and the worker falls back to net.Socket.
import type net from "node:net";
import { getSystemErrorName } from "node:util";

/** The parts of Node's TCP handle (TCPWrap) used here. */
export interface TcpHandle {
  getpeername(out: Record<string, unknown>): number;
  getsockname(out: Record<string, unknown>): number;
  readStart(): number;
  close(callback?: () => void): void;
  useUserBuffer(buffer: Uint8Array): void;
  /** Must stay a function: Node asserts on anything else (null aborts the process). */
  onread: (this: TcpHandle) => void;
}

interface ListenHandle {
  onconnection: (this: ListenHandle, status: number, client?: TcpHandle) => void;
}

export interface RawAccept<T extends TcpHandle> {
  /**
   * From now on the listener hands each accepted connection to `onOpen` as a reading handle,
   * and `onEnd(handle)` runs once after the peer closed or reset it (the handle is closed then).
   */
  attach(server: net.Server, onOpen: (handle: T) => void, onEnd: (handle: T) => void, onError: (err: Error) => void): void;
}

// Reads land here and are dropped: a flood costs CPU, never memory.
const READ_BUFFER = new Uint8Array(16 * 1024);

export function rawAcceptOf<T extends TcpHandle>(): RawAccept<T> | null {
  let state: { streamBaseState?: Int32Array; kReadBytesOrError?: number };
  try {
    state = (process as unknown as { binding(name: string): typeof state }).binding("stream_wrap");
  } catch {
    return null;
  }
  const { streamBaseState, kReadBytesOrError } = state;
  if (!(streamBaseState instanceof Int32Array) || typeof kReadBytesOrError !== "number") return null;

  return {
    attach(server, onOpen, onEnd, onError) {
      const listen = (server as unknown as { _handle: ListenHandle | null })._handle;
      if (listen === null || typeof listen.onconnection !== "function") {
        throw new Error("rawAccept: the server is not listening");
      }
      // One function for every connection; `this` is the handle that read.
      function onread(this: TcpHandle): void {
        // nread < 0: EOF or an error (reset): either way the connection is over.
        if (streamBaseState![kReadBytesOrError!]! < 0) {
          this.close();
          onEnd(this as T);
        }
      }
      listen.onconnection = function (status, client) {
        if (status !== 0 || client === undefined) {
          onError(new Error(`accept ${getSystemErrorName(status)}`));
          return;
        }
        const handle = client as T;
        handle.useUserBuffer(READ_BUFFER);
        handle.onread = onread;
        onOpen(handle);
        const err = handle.readStart();
        if (err !== 0) {
          handle.close();
          onEnd(handle);
        }
      };
    },
  };
}
