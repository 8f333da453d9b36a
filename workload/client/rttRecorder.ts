// Round trips without per-connection state: each ping carries its send time (see
// PING_STAMP_BYTES), one frame built per ping tick and shared by every socket pinged in it; the
// server echoes the bytes, and an echo alone says when its ping left. Only pings sent after the
// ramp count (the hold): during the ramp the client's own connect work would be measured.
import { PING_STAMP_BYTES, type ClientRtt } from "../../shared/protocol.js";
import { encodeRtt, newRttHistogram, recordRttMicros, type RttHistogram } from "../rttHistogram.js";

/** A ping sent this long ago is owed an answer (pings are seconds apart; later ones are lost or late). */
export const ANSWER_DUE_MS = 1000;

export class RttRecorder {
  private readonly histogram: RttHistogram = newRttHistogram();
  private readonly frameLength: number;
  /** performance.now() when the hold started; pings and echoes before it are not counted. */
  private holdStart = Infinity;
  private sent = 0;
  private echoes = 0;
  /** (time, pings sent up to then) per ping tick, newest last: a few entries at most. */
  private readonly ticks: Array<{ t: number; sent: number }> = [];
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

  /** Counts `n` pings sent at `now` (one tick). */
  sentAt(now: number, n: number): void {
    if (n === 0 || now < this.holdStart) return;
    this.sent += n;
    this.ticks.push({ t: now, sent: this.sent });
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
      this.echoes++;
      recordRttMicros(this.histogram, (now - sentAt) * 1000);
    }
  }

  /** The status line's `rtt`: pings owed an answer by `now`, echoes, histogram (re-encoded only when it changed). */
  status(now: number): ClientRtt {
    while (this.ticks.length > 1 && this.ticks[1]!.t <= now - ANSWER_DUE_MS) this.ticks.shift();
    const due = this.ticks[0] !== undefined && this.ticks[0].t <= now - ANSWER_DUE_MS ? this.ticks[0].sent : 0;
    const count = this.histogram.totalCount;
    if (this.encoded?.count !== count) this.encoded = { count, text: encodeRtt(this.histogram) };
    return { pings: due, echoes: this.echoes, histogram: this.encoded.text };
  }
}
