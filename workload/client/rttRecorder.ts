// Round trips without per-connection state: each ping carries its send time (see
// PING_STAMP_BYTES), one frame built per ping tick and shared by every socket pinged in it; the
// server echoes the bytes, and an echo alone says when its ping left. Only pings sent after the
// ramp count (the hold): during the ramp the client's own connect work would be measured. Per
// ping tick a count of sent and answered pings, until the tick is PING_ANSWER_DUE_SECONDS old:
// then its unanswered pings count as lost.
import { PING_ANSWER_DUE_SECONDS, PING_STAMP_BYTES, type ClientRtt } from "../../shared/protocol.js";
import { encodeRtt, newRttHistogram, recordRttMicros, type RttHistogram } from "../rttHistogram.js";

const DUE_MS = PING_ANSWER_DUE_SECONDS * 1000;

interface Tick {
  /** Send time: the stamp of every ping of the tick. */
  t: number;
  sent: number;
  answered: number;
}

export class RttRecorder {
  private readonly histogram: RttHistogram = newRttHistogram();
  private readonly frameLength: number;
  /** performance.now() when the hold started; pings and echoes before it are not counted. */
  private holdStart = Infinity;
  /** Ticks younger than DUE_MS, oldest first (a ping tick runs at most once a second: a few). */
  private readonly ticks: Tick[] = [];
  /** Over the ticks that are due. */
  private pingsDue = 0;
  private answeredDue = 0;
  private encoded: { count: number; text: string } | null = null;

  constructor(private readonly payload: Buffer) {
    this.frameLength = payload.length + PING_STAMP_BYTES;
  }

  startHold(now: number): void {
    if (this.holdStart === Infinity) this.holdStart = now;
  }

  /** The frame to send to every socket due at `now`. */
  frame(now: number): Buffer {
    const frame = Buffer.allocUnsafe(this.frameLength);
    this.payload.copy(frame, 0);
    frame.writeDoubleLE(now, this.payload.length);
    return frame;
  }

  /** Counts `n` pings sent at `now` (one tick, stamped `now`). */
  sentAt(now: number, n: number): void {
    if (n > 0 && now >= this.holdStart) this.ticks.push({ t: now, sent: n, answered: 0 });
  }

  /**
   * Bytes an echo brought (`length` of `data`). Whole frames only: a read that is not a multiple
   * of the frame (a ping split across segments) is skipped, and the next whole read realigns.
   */
  received(data: Uint8Array, length: number, now: number): void {
    if (length < this.frameLength || length % this.frameLength !== 0) return;
    const view = Buffer.from(data.buffer, data.byteOffset, length);
    for (let at = this.payload.length; at < length; at += this.frameLength) {
      const sentAt = view.readDoubleLE(at);
      if (!(sentAt >= this.holdStart && sentAt <= now)) continue;
      recordRttMicros(this.histogram, (now - sentAt) * 1000);
      if (now - sentAt >= DUE_MS) continue; // a round trip, but too late to count as an answer
      const tick = this.ticks.find((x) => x.t === sentAt);
      if (tick !== undefined) tick.answered++;
    }
  }

  /** The status line's `rtt`: pings due by `now` and how many were answered in time; the histogram (re-encoded only when it changed). */
  status(now: number): ClientRtt {
    while (this.ticks.length > 0 && this.ticks[0]!.t <= now - DUE_MS) {
      const tick = this.ticks.shift()!;
      this.pingsDue += tick.sent;
      this.answeredDue += Math.min(tick.sent, tick.answered);
    }
    const count = this.histogram.totalCount;
    if (this.encoded?.count !== count) this.encoded = { count, text: encodeRtt(this.histogram) };
    return { pings: this.pingsDue, echoes: this.answeredDue, histogram: this.encoded.text };
  }
}
