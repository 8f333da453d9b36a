// The connection test's script: runs verify, and passes its report on only when it is one. The
// report becomes the stack outputs; a stray line in place of it once gave `verdict: null` on a
// step that succeeded. Here an unreadable report fails the step, so no state holds it. Pure.
import { FAIL, cmd, script } from "../shell.js";

/** The check of verify's stdout: one JSON object with a string verdict (node, no dependencies). */
const CHECK_REPORT =
  'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); ' +
  'if (!r || typeof r !== "object" || typeof r.verdict !== "string") process.exit(1);';

export function verifyScript(node: string, verifyJs: string, verifyArgs: string[]): string {
  return script("connection test", [
    ...FAIL,
    'report="$(mktemp)"',
    `trap 'rm -f "$report"' EXIT`,
    `${cmd(node, verifyJs, ...verifyArgs)} > "$report"`,
    `${cmd(node, "-e", CHECK_REPORT)} "$report" 2>/dev/null || { head -c 2000 "$report" >&2; fail "verify printed no readable report (above): the outputs would be empty"; }`,
    'cat "$report"',
  ]);
}
