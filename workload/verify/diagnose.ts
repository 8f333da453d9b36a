// The connection test's judgement (pure): joins the server's, the clients' and conntrack's view
// of a run (gather.ts), compares the measurement with the capacity plan, and explains the outcome
// in one sentence that names the limit, its numbers and the fix. The limit classes themselves (a
// module each behind one interface) are in limits/, their order in limits.ts; the shapes are in
// summary.ts.
import { fmt } from "./format.js";
import { factsOf, summarizeRun } from "./gather.js";
import { firstMatch, PLATEAU_CLASSES, REACHED_CLASSES } from "./limits.js";
import { halfOpen } from "./limits/halfOpen.js";
import type { Facts } from "./limits/limitClass.js";
import { passSentence } from "./limits/pass.js";
import { serverUnreachable } from "./limits/serverUnreachable.js";
import { crashedList, failureList } from "./limits/text.js";
import { PLATEAU_LOWER, plateauUpper } from "./limits/thresholds.js";
import { unknownLimit } from "./limits/unknownLimit.js";
import type { DiagnoseContext, DiagnosedLimit, Diagnosis, Verdict } from "./summary.js";
import type { Run, VerifyPlan } from "./types.js";

// Kept for the modules and tests that import these from here (report.ts, run.ts).
export type { ConntrackSummary, DiagnoseContext, DiagnosedLimit, Diagnosis, SharedPortsSummary, Verdict } from "./summary.js";
export { crossCheckTolerance } from "./limits/thresholds.js";
export { perServerIpOf } from "./perIp.js";

/** A verdict, the limit it names and its sentence. */
interface Judgement {
  verdict: Verdict;
  limit: DiagnosedLimit;
  diagnosis: string;
}

const judged = (verdict: Verdict, limit: DiagnosedLimit, diagnosis: string): Judgement => ({ verdict, limit, diagnosis });

/** The target was reached: a pass unless a REACHED class matches. */
function judgeReached(f: Facts, warnings: string[]): Judgement {
  const crashed = [...f.down, ...f.restarted];
  if (crashed.length > 0) warnings.push(`${crashedList(crashed)} during the test, yet the target was reached.`);
  const { failures } = f;
  if (failures.emfile + failures.refused + failures.addrnotavail + failures.timeout > 0) {
    warnings.push(`clients counted ${failureList(failures)} on the way (retried).`);
  }
  const wrong = firstMatch(REACHED_CLASSES, f);
  if (wrong) return judged("fail", wrong.limit, wrong.sentence);
  return judged("pass", "none", passSentence(f));
}

/** Not reached: which limit, and whether it is the plateau the plan expected. */
function judgePlateau(f: Facts, warnings: string[]): Judgement {
  const { plan, ctx, total } = f;
  const { limit, sentence } = firstMatch(PLATEAU_CLASSES, f) ?? { limit: "unknown", sentence: unknownLimit(f) };
  if (limit !== "clients-crashed" && f.restarted.length > 0) warnings.push(`${crashedList(f.restarted)} during the test.`);
  const planPlateau = plan.predicted < plan.target;
  const inPlateauBand = total >= Math.floor(PLATEAU_LOWER * plan.predicted) && total <= plateauUpper(plan.predicted);
  if (ctx.expect === "plateau" && planPlateau && limit === plan.bindingLimit && inPlateauBand) {
    const split = halfOpen.detect(f);
    if (split !== null) return judged("fail", "half-open", split);
    return judged("plateau-as-expected", limit, sentence);
  }
  if (ctx.expect === "plateau" && planPlateau) {
    const expected = `the plan expected a ${plan.bindingLimit} plateau at ${fmt(plan.predicted)}`;
    return judged("fail", limit, sentence.replace(/\.$/, `; ${expected}.`));
  }
  return judged("fail", limit, sentence);
}

/** Judges one run: the server's view gone first (nothing else can be trusted), then reached or not. */
export function diagnose(plan: VerifyPlan, run: Run, ctx: DiagnoseContext): Diagnosis {
  const summary = summarizeRun(plan, run, ctx);
  const facts = factsOf(plan, run, ctx, summary);
  // A soak only starts once the target was reached; losses during it are judged as losses.
  const reached = run.soakStartIndex !== null || summary.total >= plan.target;
  const unreachable = serverUnreachable.detect(facts);
  const judgement =
    unreachable !== null
      ? judged("fail", "server-unreachable", unreachable)
      : reached
        ? judgeReached(facts, summary.warnings)
        : judgePlateau(facts, summary.warnings);
  return { ...judgement, ...summary };
}
