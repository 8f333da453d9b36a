// Node's TCP handles without the net.Socket around them. An idle connection needs none of a
// Socket's machinery (two stream states, an EventEmitter, listeners, nextTicks): measured on
// loopback, the JS cost per accepted connection falls from 30 to 7 µs, and from 103 to 22 µs
// when connections trickle in, the regime of each of 54 workers or 51 clients sharing a ramp.
//
// These are Node's internal bindings, reached through process.binding(), which Node documents
// as deprecated but still ships (12 through 24). If they are missing or look different,
// tcpHandleBindings() returns null and callers fall back to net.
import { getSystemErrorName } from "node:util";

/** The parts of Node's TCPWrap used here. */
export interface TcpHandle {
  getpeername(out: Record<string, unknown>): number;
  getsockname(out: Record<string, unknown>): number;
  bind(address: string, port: number): number;
  bind6(address: string, port: number, flags: number): number;
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  readStart(): number;
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  close(callback?: () => void): void;
  /** Closes with SO_LINGER 0: the kernel sends RST and frees the socket at once (Node ≥ 16.17). */
  reset?(callback?: () => void): number;
  useUserBuffer(buffer: Uint8Array): void;
  /** Bytes written but not yet handed to the kernel (libuv's write queue). */
  readonly writeQueueSize: number;
  /** Must stay a function: Node asserts on anything else (null aborts the process). */
  onread: (this: TcpHandle) => void;
}

export interface ConnectReq {
  oncomplete: (status: number, handle: TcpHandle) => void;
}

export interface WriteReq {
  handle: TcpHandle;
  oncomplete: (status: number) => void;
  async: boolean;
  /** Keeps the data alive while a write is pending (net does the same). */
  buffer?: Uint8Array;
}

export interface TcpHandleBindings {
  newSocket(): TcpHandle;
  newConnectReq(): ConnectReq;
  newWriteReq(): WriteReq;
  /** Bytes read (> 0), or a negative error (EOF, reset) in the onread callback now running. */
  lastRead(): number;
}

type Ctor<T> = new (arg?: number) => T;

export function tcpHandleBindings(): TcpHandleBindings | null {
  // With --throw-deprecation, --pending-deprecation's warning about process.binding() would be
  // thrown on a later tick, out of reach of the catch below, and end the process.
  if (process.throwDeprecation) return null;
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const tcp = binding("tcp_wrap") as {
      TCP?: Ctor<TcpHandle>;
      TCPConnectWrap?: Ctor<ConnectReq>;
      constants?: { SOCKET?: number };
    };
    const stream = binding("stream_wrap") as {
      WriteWrap?: Ctor<WriteReq>;
      streamBaseState?: unknown;
      kReadBytesOrError?: unknown;
    };
    const { TCP, TCPConnectWrap, constants } = tcp;
    const { WriteWrap, streamBaseState, kReadBytesOrError } = stream;
    if (
      typeof TCP !== "function" ||
      typeof TCPConnectWrap !== "function" ||
      typeof constants?.SOCKET !== "number" ||
      typeof WriteWrap !== "function" ||
      !(streamBaseState instanceof Int32Array) ||
      typeof kReadBytesOrError !== "number"
    ) {
      return null;
    }
    const socketType = constants.SOCKET;
    return {
      newSocket: () => new TCP(socketType),
      newConnectReq: () => new TCPConnectWrap(),
      newWriteReq: () => new WriteWrap(),
      lastRead: () => streamBaseState[kReadBytesOrError]!,
    };
  } catch {
    return null;
  }
}

/** A libuv status as the Error net would have raised (code ECONNREFUSED etc.). */
export function uvError(status: number, syscall: string): Error & { code: string } {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`${syscall} ${code}`), { code });
}
