// Accepted connections held as bare TCP handles (see ../tcpHandles.ts): read whatever arrives
// into one shared buffer, write it back (the clients' pings carry their send time, so an echo is
// a round trip measured), notice the end, close. No net.Socket per connection, no state per ping.
import type net from "node:net";
import { tcpHandleBindings, uvError, type TcpHandle } from "../tcpHandles.js";

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

// Reads land here; an echo writes a copy (a pending write must not see the next read).
const READ_BUFFER = new Uint8Array(16 * 1024);

const noop = (): void => {};

/** null where Node lacks the handle bindings (the worker then uses net.Socket). While `echo()` is false: read and drop. */
export function rawAcceptOf<T extends TcpHandle>(echo: () => boolean = () => true): RawAccept<T> | null {
  const bindings = tcpHandleBindings();
  if (bindings === null) return null;
  const b = bindings;
  function writeBack(handle: TcpHandle, n: number): void {
    // A peer that sends without reading would have us queue its echoes without end: while a
    // write is still queued, what it sends is dropped (memory stays bounded by the kernel's buffers).
    if (handle.writeQueueSize > 0) return;
    const req = b.newWriteReq();
    req.handle = handle;
    req.oncomplete = noop;
    req.async = false;
    req.buffer = READ_BUFFER.slice(0, n);
    // A failed write shows up as the connection ending (a read error): nothing to do here.
    handle.writeBuffer(req, req.buffer);
  }
  return {
    attach(server, onOpen, onEnd, onError) {
      const listen = (server as unknown as { _handle: ListenHandle | null })._handle;
      if (listen === null || typeof listen.onconnection !== "function") {
        throw new Error("rawAccept: the server is not listening");
      }
      // One function for every connection; `this` is the handle that read.
      function onread(this: TcpHandle): void {
        const n = b.lastRead();
        // < 0: EOF or an error (reset): either way the connection is over.
        if (n < 0) {
          this.close();
          onEnd(this as T);
        } else if (n > 0 && echo()) {
          writeBack(this, n);
        }
      }
      listen.onconnection = function (status, client) {
        if (status !== 0 || client === undefined) {
          onError(uvError(status, "accept"));
          return;
        }
        const handle = client as T;
        handle.useUserBuffer(READ_BUFFER);
        handle.onread = onread;
        onOpen(handle);
        if (handle.readStart() !== 0) {
          handle.close();
          onEnd(handle);
        }
      };
    },
  };
}
