// The tolerances the limit classes and the cross-check share.

/**
 * A plateau counts as the predicted one from this fraction of plan.predicted up: a NAT pool filled
 * to 100% finds its last free ports slowly (random search), so the final few percent trickle in.
 */
export const PLATEAU_LOWER = 0.97;
/** Conntrack counts as full from this fill (or from 90% once it drops packets). */
export const CONNTRACK_FULL = 0.97;

/** Server total vs the clients' sum may differ by this much (the views are up to a poll apart). */
export function crossCheckTolerance(n: number): number {
  return Math.max(50, Math.ceil(n * 0.01));
}

/** Above the prediction, a plateau still matches up to this. */
export function plateauUpper(predicted: number): number {
  return predicted + crossCheckTolerance(predicted);
}
