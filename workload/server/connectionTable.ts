// A worker's bookkeeping of live connections, kept compact: one group per (local address,
// remote IP) with a count and a port bitmap; each connection is remembered only as a small
// integer token (group index and remote port) stored on its socket.
import { clearPort, newPortBitmap, setPort } from "../portBitmap.js";
import type { GroupReport, WorkerCounters } from "./ipc.js";

interface Group {
  local: string;
  remoteIp: string;
  count: number;
  bits: Uint8Array;
}

/** Token of a connection whose peer address could not be read (reset before we looked). */
export const UNTRACKED = -1;

export class ConnectionTable {
  private readonly groups: Group[] = [];
  /** local "ip:port" → remote IP → group index. Two levels avoid building a key string per accept. */
  private readonly index = new Map<string, Map<string, number>>();
  accepted = 0;
  closed = 0;
  total = 0;

  /** Records an accepted connection; returns the token to pass to remove(). */
  add(local: string, remoteIp: string | undefined, remotePort: number | undefined): number {
    this.accepted++;
    this.total++;
    if (remoteIp === undefined || remotePort === undefined) return UNTRACKED;
    let byRemote = this.index.get(local);
    if (byRemote === undefined) {
      byRemote = new Map();
      this.index.set(local, byRemote);
    }
    let gi = byRemote.get(remoteIp);
    if (gi === undefined) {
      gi = this.groups.length;
      this.groups.push({ local, remoteIp, count: 0, bits: newPortBitmap() });
      byRemote.set(remoteIp, gi);
    }
    const group = this.groups[gi]!;
    group.count++;
    setPort(group.bits, remotePort);
    // Below 2^30 the token is a small integer V8 stores inline (no heap number per socket).
    return gi * 65536 + remotePort;
  }

  remove(token: number): void {
    this.closed++;
    this.total--;
    if (token === UNTRACKED) return;
    const group = this.groups[Math.floor(token / 65536)];
    if (group === undefined) return;
    group.count--;
    clearPort(group.bits, token % 65536);
  }

  counters(): WorkerCounters {
    return { accepted: this.accepted, closed: this.closed, total: this.total };
  }

  /** Groups with live connections (process.send serializes synchronously, so no copy). */
  report(): GroupReport[] {
    const out: GroupReport[] = [];
    for (const g of this.groups) {
      if (g.count > 0) out.push({ local: g.local, remoteIp: g.remoteIp, count: g.count, bits: g.bits });
    }
    return out;
  }
}
