// A container can be asked for more connections than one process may hold (the open-file
// limit): its client then runs them as several processes ("parts", workload/client/parts.ts).
// Pure: how a config splits into parts, and how the parts' status lines make the container's one.
import { FAILURE_CLASSES, type ClientStatus, type FailureClass } from "../../shared/protocol.js";
import { encodeRtt, mergeRtt } from "../rttHistogram.js";
import type { ClientConfig } from "./config.js";
import { spread } from "../../shared/spread.js";

/**
 * Part i's config: its share of the connections, the find-limit step, the connect rate and the
 * connects in flight (each at least 1), and the targets rotated by i/parts of their number, so
 * that parts ramping in blocks start at different servers instead of all at the first.
 */
export function splitConfig(config: ClientConfig, parts: number): ClientConfig[] {
  if (!Number.isInteger(parts) || parts < 1) throw new RangeError(`parts must be a positive integer, got ${parts}`);
  if (parts > config.connections) throw new RangeError(`${parts} parts for ${config.connections} connections`);
  const connections = spread(config.connections, parts);
  const steps = spread(config.stepConnections, parts);
  const rates = spread(config.connectRate, parts);
  const inFlight = spread(config.maxInFlight, parts);
  const n = config.targets.length;
  return connections.map((c, i) => {
    const shift = Math.floor((i * n) / parts);
    return {
      ...config,
      connections: c,
      stepConnections: config.stepConnections > 0 ? Math.max(1, steps[i]!) : 0,
      connectRate: Math.max(1, rates[i]!),
      maxInFlight: Math.max(1, inFlight[i]!),
      targets: [...config.targets.slice(shift), ...config.targets.slice(0, shift)],
    };
  });
}

/** A part's status before its first line: nothing done yet toward its target. */
export function startingStatus(name: string, target: number): ClientStatus {
  return {
    type: "status",
    client: name,
    target,
    established: 0,
    inFlight: 0,
    attempted: 0,
    failed: Object.fromEntries(FAILURE_CLASSES.map((c) => [c, 0])) as Record<FailureClass, number>,
    dropped: 0,
    rate: 0,
    elapsedSeconds: 0,
    rampSeconds: null,
    final: false,
  };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * The container's status from its parts' latest: counts and rates summed, elapsed and ramp time
 * the longest (no ramp until every part's), final once all are, round trips merged.
 */
export function mergeStatus(name: string, parts: ClientStatus[]): ClientStatus {
  const ramps = parts.map((p) => p.rampSeconds);
  const merged: ClientStatus = {
    type: "status",
    client: name,
    target: sum(parts.map((p) => p.target)),
    established: sum(parts.map((p) => p.established)),
    inFlight: sum(parts.map((p) => p.inFlight)),
    attempted: sum(parts.map((p) => p.attempted)),
    failed: Object.fromEntries(FAILURE_CLASSES.map((c) => [c, sum(parts.map((p) => p.failed[c]))])) as Record<
      FailureClass,
      number
    >,
    dropped: sum(parts.map((p) => p.dropped)),
    rate: sum(parts.map((p) => p.rate)),
    elapsedSeconds: Math.max(...parts.map((p) => p.elapsedSeconds)),
    rampSeconds: ramps.some((r) => r === null) ? null : Math.max(...(ramps as number[])),
    final: parts.every((p) => p.final),
  };
  const rtts = parts.flatMap((p) => (p.rtt ? [p.rtt] : []));
  if (rtts.length > 0) {
    merged.rtt = {
      pings: sum(rtts.map((r) => r.pings)),
      echoes: sum(rtts.map((r) => r.echoes)),
      histogram: encodeRtt(mergeRtt(rtts.map((r) => r.histogram)).merged),
    };
  }
  if (parts.some((p) => p.reconnected !== undefined)) {
    merged.reconnected = sum(parts.map((p) => p.reconnected ?? 0));
    merged.reconnecting = sum(parts.map((p) => p.reconnecting ?? 0));
  }
  return merged;
}
