// Opens `connections` idle TCP connections round-robin over the targets at a bounded rate,
// holds them, and pings each about once per interval, the first one an interval after it was
// established (a heartbeat: a ramp is not slowed by pings to sockets that just connected). The
// server echoes each ping; the round trips of the hold go into an HDR histogram (rttRecorder.ts).
// Per-connection cost is kept to the socket itself: shared handlers, no per-socket timers or
// closures, two array slots. With --reconnect, an established connection that closes comes back
// after a backoff (a reconnect storm after a server restart): the queue holds an entry only while
// a connection is away, so a held connection costs nothing more.
import { performance } from "node:perf_hooks";
import { FAILURE_CLASSES, type ClientStatus, type FailureClass } from "../../shared/protocol.js";
import { firstTarget, type ClientConfig } from "./config.js";
import { connectTimeoutError } from "./errors.js";
import { backoffMs } from "./backoff.js";
import { RetryQueue } from "./retryQueue.js";
import { RttRecorder } from "./rttRecorder.js";
import { handleTransport, netTransport, type ConnectionEvents, type Transport } from "./transport.js";

/** Connect pacing tick: small enough to keep bursts short at 15k+/s. */
const PUMP_TICK_MS = 10;
/** Ping tick: each tick pings the sockets that are due. */
const MAX_PING_TICK_MS = 1000;

interface Pending {
  start: number;
  attempt: number;
  target: number;
  source: number;
  failure?: FailureClass;
  timedOut?: boolean;
  /** A reconnect of a dropped connection (its failure queues the next reconnect, not a ramp retry). */
  reconnect?: boolean;
}

/** A connection, whichever transport made it (a bare TCP handle or a net.Socket). */
type Conn = object;

export interface ClientOptions {
  /** net.Socket per connection even where bare TCP handles are available. */
  netSockets?: boolean;
  /** Replaces the transport (tests drive the client's logic through it). */
  transport?: (events: ConnectionEvents<Conn>) => Transport<Conn>;
  /** The backoff's random source, [0, 1) (tests fix it); default Math.random. */
  random?: () => number;
}

export class ConnectionClient {
  established = 0;
  attempted = 0;
  dropped = 0;
  /** Dropped connections established again (with reconnectDropped). */
  reconnected = 0;
  readonly failed = Object.fromEntries(FAILURE_CLASSES.map((c) => [c, 0])) as Record<FailureClass, number>;
  /** Time the target was first reached (performance.now()), or undefined. */
  private reachedAt: number | undefined;
  private connectsOk = 0;
  private freshStarted = 0;
  private readonly pending = new Map<Conn, Pending>();
  private readonly retries = new RetryQueue();
  /** Dropped connections waiting for their backoff (with reconnectDropped). */
  private readonly reconnects = new RetryQueue();
  /** Reconnects go round-robin over the targets (and sources), like the ramp's interleaved order. */
  private reconnectCursor = 0;
  private reconnectsInFlight = 0;
  /** One timer for the earliest reconnect due (none while nothing waits). */
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Established sockets; closed ones linger until compaction (no per-socket index needed). */
  private open: Conn[] = [];
  /** When open[i] is next due a ping (performance.now() ms); a double per socket. */
  private pingDue: number[] = [];
  private deadInOpen = 0;
  private pingCursor = 0;
  private tokens = 0;
  private lastRefill = 0;
  private startTime = 0;
  private lastStatus = { t: 0, ok: 0 };
  private readonly timers: NodeJS.Timeout[] = [];
  /** Runs only while connects are left to start (fresh or retries): an idle 10 ms tick costs a
   * client ~1.4% of a core, and 51 finished clients polling would take a third of this machine. */
  private pumpTimer: NodeJS.Timeout | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  private rampOver = false;
  private stopped = false;
  private finished = false;
  private idle: NodeJS.Timeout | undefined;
  private readonly transport: Transport<Conn>;
  private readonly nSources: number;
  /** null when the client does not ping. */
  private readonly rtt: RttRecorder | null;
  private readonly burst: number;
  private readonly random: () => number;
  /** Connections to open now: all of them, or (find-limit) the steps signalled so far. */
  private target: number;

  constructor(
    private readonly config: ClientConfig,
    private readonly out: (status: ClientStatus) => void,
    private readonly onFinish: (code: number) => void,
    /** Called once when the ramp is over (target reached, or nothing left to try). */
    private readonly onRampDone?: () => void,
    options: ClientOptions = {},
  ) {
    const sources = config.sourceAddresses.length > 0 ? config.sourceAddresses : [undefined];
    this.nSources = sources.length;
    const events: ConnectionEvents<Conn> = {
      connected: (c) => this.connected(c),
      failed: (c, failure) => this.failedWith(c, failure),
      closed: (c) => this.closed(c),
      received: (data, length) => this.rtt?.received(data, length, performance.now()),
    };
    this.transport =
      options.transport?.(events) ??
      (options.netSockets ? null : handleTransport(config.targets, sources, events)) ??
      (netTransport(config.targets, sources, events) as Transport<Conn>);
    this.rtt = config.pingIntervalSeconds > 0 ? new RttRecorder(Buffer.from(config.pingPayload)) : null;
    this.burst = Math.max(1, (config.connectRate * PUMP_TICK_MS * 2) / 1000);
    this.random = options.random ?? Math.random;
    this.target = firstTarget(config);
  }

  /** find-limit's next step: the target rises by one step (up to --connections) and the ramp resumes. */
  nextStep(): void {
    if (this.stopped || this.config.stepConnections <= 0 || this.target >= this.config.connections) return;
    this.target = Math.min(this.config.connections, this.target + this.config.stepConnections);
    this.reachedAt = undefined;
    this.pump();
  }

  /** "handles" (bare TCP handles) or "net" (a net.Socket per connection). */
  get transportKind(): "handles" | "net" {
    return this.transport.kind;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  start(): void {
    this.startTime = performance.now();
    this.lastRefill = this.startTime;
    this.lastStatus = { t: this.startTime, ok: 0 };
    const sweepMs = Math.min(250, Math.max(10, Math.floor(this.config.connectTimeoutMs / 4)));
    this.timers.push(setInterval(() => this.sweepTimeouts(), sweepMs));
    this.timers.push(setInterval(() => this.tickStatus(), this.config.statusIntervalMs));
    if (this.config.pingIntervalSeconds > 0) {
      const intervalMs = this.config.pingIntervalSeconds * 1000;
      this.timers.push(setInterval(() => this.ping(intervalMs), Math.min(MAX_PING_TICK_MS, intervalMs)));
    }
    this.pump();
  }

  /** Starts as many connects as the token bucket, the in-flight cap and the plan allow. */
  private pump(): void {
    if (this.stopped) return;
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) * this.config.connectRate) / 1000);
    this.lastRefill = now;
    const nTargets = this.config.targets.length;
    const nSources = this.nSources;
    this.pumpUntilIdle();
    while (this.tokens >= 1 && this.pending.size < this.config.maxInFlight) {
      const retry = this.retries.popDue(now);
      if (retry !== undefined) {
        this.connect(retry.target, (retry.source + 1) % nSources, retry.attempt, now);
      } else if (this.freshStarted < this.target) {
        const i = this.freshStarted++;
        if (this.config.targetOrder === "blocks") {
          // Target k gets connects [k·n/T, (k+1)·n/T): shares differ by one at most; sources cycle.
          this.connect(Math.floor((i * nTargets) / this.config.connections), i % nSources, 0, now);
        } else {
          // Targets cycle fastest; sources advance once per round so every pair gets used.
          this.connect(i % nTargets, Math.floor(i / nTargets) % nSources, 0, now);
        }
      } else {
        break;
      }
      this.tokens--;
    }
  }

  /** Keeps the pump ticking while connects are left to start; stops it once none are. */
  private pumpUntilIdle(): void {
    const work = this.freshStarted < this.target || this.retries.size > 0;
    if (work && this.pumpTimer === undefined) {
      this.pumpTimer = setInterval(() => this.pump(), PUMP_TICK_MS);
    } else if (!work && this.pumpTimer !== undefined) {
      clearInterval(this.pumpTimer);
      this.pumpTimer = undefined;
    }
  }

  private connect(target: number, source: number, attempt: number, now: number): void {
    this.attempted++;
    this.pending.set(this.transport.connect(target, source), { start: now, attempt, target, source });
  }

  /** (A transport event.) */
  private connected(socket: Conn): void {
    const p = this.pending.get(socket);
    if (p === undefined) return;
    this.pending.delete(socket);
    if (p.reconnect) {
      this.reconnected++;
      this.reconnectsInFlight--;
    }
    this.established++;
    this.connectsOk++;
    this.open.push(socket);
    this.pingDue.push(performance.now() + this.config.pingIntervalSeconds * 1000);
    if (this.reachedAt === undefined && this.established >= this.target) {
      this.reachedAt = performance.now();
      this.rampDone();
    }
    this.pump();
  }

  /** (A transport event.) */
  private failedWith(socket: Conn, failure: FailureClass): void {
    const p = this.pending.get(socket);
    if (p !== undefined && p.failure === undefined) p.failure = failure;
  }

  /** (A transport event.) */
  private closed(socket: Conn): void {
    if (this.stopped) return;
    const p = this.pending.get(socket);
    if (p === undefined) {
      // An established connection went away.
      this.established--;
      this.dropped++;
      this.deadInOpen++;
      if (this.config.reconnectDropped) this.queueReconnect(1, this.reconnectCursor++);
      return;
    }
    this.pending.delete(socket);
    this.failed[p.failure ?? "other"]++;
    if (p.reconnect) {
      this.reconnectsInFlight--;
      this.queueReconnect(p.attempt + 1, p.target + p.source * this.config.targets.length);
    } else if (this.config.retry && this.reachedAt === undefined) {
      this.retries.push({
        due: performance.now() + backoffMs(p.attempt + 1, this.config.reconnect, this.random),
        attempt: p.attempt + 1,
        target: p.target,
        source: p.source,
      });
    } else if (this.rampSettled()) {
      this.rampDone();
    }
    this.pump();
  }

  /**
   * A dropped connection comes back after backoffMs(attempt). `slot` walks the (target, source)
   * pairs targets fastest, as the interleaved ramp does; a failed reconnect keeps its pair.
   */
  private queueReconnect(attempt: number, slot: number): void {
    const nTargets = this.config.targets.length;
    this.reconnects.push({
      due: performance.now() + backoffMs(attempt, this.config.reconnect, this.random),
      attempt,
      target: slot % nTargets,
      source: Math.floor(slot / nTargets) % this.nSources,
    });
    this.armReconnects();
  }

  /** (Re)arms the one reconnect timer for the earliest entry due. */
  private armReconnects(): void {
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const due = this.reconnects.nextDue;
    if (due === undefined || this.stopped) return;
    this.reconnectTimer = setTimeout(() => this.reconnectDue(), Math.max(0, due - performance.now()));
  }

  /**
   * Starts every reconnect that is due, at once: neither the connect-rate bucket nor
   * maxInFlight paces them, since each stands for a device acting on its own and the herd (or its
   * absence, with jitter) is what the storm measures. What bounds them is the connections this
   * client held: a reconnect replaces a dropped one, so in-flight + established never exceeds
   * --connections, the sockets the open-file check already allowed.
   */
  private reconnectDue(): void {
    this.reconnectTimer = undefined;
    const now = performance.now();
    // Due within the timers' 1 ms resolution: a herd dropped in one burst stays one burst.
    const until = now + 1;
    for (let r = this.reconnects.popDue(until); r !== undefined; r = this.reconnects.popDue(until)) {
      this.attempted++;
      this.reconnectsInFlight++;
      const p: Pending = { start: now, attempt: r.attempt, target: r.target, source: r.source, reconnect: true };
      this.pending.set(this.transport.connect(r.target, r.source), p);
    }
    this.armReconnects();
  }

  /** Nothing left to try: every connect has succeeded or failed for good. */
  private rampSettled(): boolean {
    return this.freshStarted >= this.target && this.pending.size === 0 && this.retries.size === 0;
  }

  /** Once ramped (or settled short): tell the owner, and let --hold-seconds count down to the exit. */
  private rampDone(): void {
    if (this.rampOver) return;
    this.rampOver = true;
    this.rtt?.startHold(performance.now());
    this.onRampDone?.();
    if (this.config.holdSeconds <= 0) return;
    this.holdTimer = setTimeout(() => this.finish(this.succeeded() ? 0 : 1), this.config.holdSeconds * 1000);
  }

  /** Target reached, and still held now. */
  succeeded(): boolean {
    return this.reachedAt !== undefined && (this.config.holdSeconds <= 0 || this.established >= this.target);
  }

  /** One sweep over in-flight connects (oldest first) instead of a timer per socket. */
  private sweepTimeouts(): void {
    const now = performance.now();
    const limit = this.config.connectTimeoutMs;
    for (const [socket, p] of this.pending) {
      if (now - p.start < limit) break; // Map order is start order
      if (p.timedOut) continue;
      p.timedOut = true;
      this.transport.abort(socket, connectTimeoutError(limit));
    }
  }

  /**
   * Sends the payload to every socket that is due, one lap at most. open[] is in establishment
   * order and pings walk it in order, so due times grow along the cursor (within one lap): the
   * walk stops at the first socket not yet due.
   */
  private ping(intervalMs: number): void {
    const rtt = this.rtt;
    if (rtt === null) return;
    const now = performance.now();
    let frame: Buffer | null = null;
    let sent = 0;
    for (let left = this.open.length; left > 0; left--) {
      if (this.pingCursor >= this.open.length) this.pingCursor = 0;
      const i = this.pingCursor;
      if (this.pingDue[i]! > now) break;
      // One frame per tick, shared by every socket pinged in it (writes never modify it).
      frame ??= rtt.frame(now);
      if (this.transport.isOpen(this.open[i]!)) {
        this.transport.write(this.open[i]!, frame);
        sent++;
      }
      this.pingDue[i] = now + intervalMs;
      this.pingCursor++;
    }
    rtt.sentAt(now, sent);
  }

  private compactOpen(): void {
    if (this.deadInOpen < 1024 && this.deadInOpen * 8 < this.open.length) return;
    const open: Conn[] = [];
    const due: number[] = [];
    let cursor = 0;
    for (let i = 0; i < this.open.length; i++) {
      if (i === this.pingCursor) cursor = open.length;
      if (!this.transport.isOpen(this.open[i]!)) continue;
      open.push(this.open[i]!);
      due.push(this.pingDue[i]!);
    }
    this.open = open;
    this.pingDue = due;
    this.pingCursor = cursor;
    this.deadInOpen = 0;
  }

  private tickStatus(): void {
    this.compactOpen();
    this.out(this.status(false));
  }

  status(final: boolean): ClientStatus {
    const now = performance.now();
    const dt = now - this.lastStatus.t;
    const rate = dt > 0 ? ((this.connectsOk - this.lastStatus.ok) * 1000) / dt : 0;
    this.lastStatus = { t: now, ok: this.connectsOk };
    return {
      type: "status",
      client: this.config.name,
      target: this.target,
      established: this.established,
      inFlight: this.pending.size,
      attempted: this.attempted,
      failed: { ...this.failed },
      dropped: this.dropped,
      rate: Math.round(rate),
      elapsedSeconds: round3((now - this.startTime) / 1000),
      rampSeconds: this.reachedAt === undefined ? null : round3((this.reachedAt - this.startTime) / 1000),
      final,
      ...(this.rtt ? { rtt: this.rtt.status(now) } : {}),
      ...(this.config.reconnectDropped
        ? { reconnected: this.reconnected, reconnecting: this.reconnects.size + this.reconnectsInFlight }
        : {}),
    };
  }

  /** Stops everything, prints the final status and hands the exit code over. */
  finish(code: number): void {
    if (this.finished) return;
    this.finished = true;
    this.quiesce();
    clearInterval(this.idle);
    this.onFinish(code);
  }

  /**
   * The lab's stop, first half (infra/clients/drain.ts): stop connecting and pinging, print the
   * final status, reset every connection, and stay up (idle) until finish(). Resetting while the
   * NAT entries still exist lets each RST reach the server, which then closes its side at once.
   * Returns the connections it reset (0 when already quiet).
   */
  quiesce(): number {
    if (this.stopped) return 0;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.pumpTimer !== undefined) clearInterval(this.pumpTimer);
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.out(this.status(true));
    // Without a timer or a socket left, Node would exit here, and the container's veth would go
    // before the lab has deleted the NAT entries (drain.ts): stay until finish().
    this.idle = setInterval(() => {}, 3_600_000);
    return this.resetAll();
  }

  /**
   * Every connection closed with a reset before the process exits. An exit closes them with FIN,
   * and the kernel keeps each as an orphan until the server's ACK comes back; at a million, with
   * the NAT entries already deleted (see infra/clients/drain.ts), none comes back: "TCP: too many
   * orphaned sockets", and the first `pulumi destroy` of the million stack hung there. A reset
   * leaves no orphan and no TIME_WAIT.
   */
  private resetAll(): number {
    let n = 0;
    for (const c of this.open) {
      if (!this.transport.isOpen(c)) continue;
      this.transport.reset(c);
      n++;
    }
    for (const c of this.pending.keys()) this.transport.reset(c);
    this.pending.clear();
    return n;
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
