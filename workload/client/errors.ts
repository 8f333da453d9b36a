// Maps a socket error to the failure classes of ClientStatus.failed.
import type { FailureClass } from "../../shared/protocol.js";

/** Code of the error the client raises itself when a connect outlives --connect-timeout-ms. */
export const CONNECT_TIMEOUT_CODE = "C1M_CONNECT_TIMEOUT";

export function classifyError(err: unknown): FailureClass {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  switch (code) {
    case CONNECT_TIMEOUT_CODE:
    case "ETIMEDOUT":
      return "timeout";
    case "ECONNREFUSED":
      return "refused";
    case "EADDRNOTAVAIL":
      return "addrnotavail";
    case "ECONNRESET":
    case "EPIPE":
      return "reset";
    case "EMFILE":
    case "ENFILE":
      return "emfile";
    default:
      return "other";
  }
}

export function connectTimeoutError(ms: number): Error & { code: string } {
  return Object.assign(new Error(`connect timed out after ${ms} ms`), { code: CONNECT_TIMEOUT_CODE });
}
