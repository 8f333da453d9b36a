// Accepted connections held as bare TCP handles (see ../tcpHandles.ts): read whatever arrives
// into one shared buffer, notice the end, close. No net.Socket per connection.
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

// Reads land here and are dropped: a flood costs CPU, never memory.
const READ_BUFFER = new Uint8Array(16 * 1024);

/** null where Node lacks the handle bindings (the worker then uses net.Socket). */
export function rawAcceptOf<T extends TcpHandle>(): RawAccept<T> | null {
  const bindings = tcpHandleBindings();
  if (bindings === null) return null;
  return {
    attach(server, onOpen, onEnd, onError) {
      const listen = (server as unknown as { _handle: ListenHandle | null })._handle;
      if (listen === null || typeof listen.onconnection !== "function") {
        throw new Error("rawAccept: the server is not listening");
      }
      // One function for every connection; `this` is the handle that read.
      function onread(this: TcpHandle): void {
        // < 0: EOF or an error (reset): either way the connection is over.
        if (bindings!.lastRead() < 0) {
          this.close();
          onEnd(this as T);
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
