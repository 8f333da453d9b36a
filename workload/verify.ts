// The post-deploy connection test (command line). Run by the stack's ConnectionTest
// `local.Command` and by `npm run lab:test`; see VERIFY_USAGE or `--help`.
// stdout carries only the result JSON (it becomes the stack outputs); progress and the
// diagnosis go to stderr. Exit 0 = pass / plateau-as-expected, 1 = fail, 2 = bad arguments.
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { UsageError } from "./cliArgs.js";
import { VERIFY_USAGE, parseVerifyArgs } from "./verify/args.js";
import { runConnectionTest } from "./verify/run.js";
import { wrap } from "./verify/format.js";
import { PROGRESS_WIDTH } from "./verify/progress.js";
import { SshTunnelError, type SshAuth } from "./verify/sshTunnel.js";
import { SSH_KEY_ENV } from "../shared/protocol.js";

export {
  runConnectionTest,
  type ConnectionTestOptions,
  type ConnectionTestDeps,
  type ConnectionTestResult,
} from "./verify/run.js";
export { parseVerifyArgs, parsePlan, VERIFY_USAGE } from "./verify/args.js";
export type { TestOutput } from "./verify/report.js";

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  let parsed;
  try {
    parsed = parseVerifyArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`verify: ${err.message}\nRun with --help for usage.\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(VERIFY_USAGE);
    return 0;
  }
  let output;
  try {
    ({ output } = await runConnectionTest(parsed.options, { sshAuth: sshAuth() }));
  } catch (err) {
    if (err instanceof SshTunnelError) {
      process.stderr.write(`verify: cannot reach the server's metrics: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
  // The one-sentence diagnosis, wrapped to the progress lines' width.
  const lines = wrap(`verify: ${output.verdict.toUpperCase()} — ${output.diagnosis}`, PROGRESS_WIDTH, "  ");
  process.stderr.write(`${lines.join("\n")}\n${output.reportDir ? `verify: report in ${output.reportDir}\n` : ""}`);
  return output.verdict === "fail" ? 1 : 0;
}

/**
 * The tunnel's login: the key from the environment (taken out of it, so no program verify starts
 * inherits it), else the ssh-agent.
 */
function sshAuth(): SshAuth {
  const privateKey = process.env[SSH_KEY_ENV];
  delete process.env[SSH_KEY_ENV];
  const agent = process.env.SSH_AUTH_SOCK;
  return privateKey ? { privateKey } : agent ? { agent } : {};
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`verify: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
