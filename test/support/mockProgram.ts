// Runs the compiled Pulumi entry point under Pulumi's mocks and records what it registers:
// type, name, parent, dependsOn and resolved inputs of every resource, plus the stack outputs.
// Also helpers to read the recorded scripts (a remote step's body, lines in order), so
// tests assert what a script holds instead of comparing it with the builder that made it.
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REFERENCE_FACTS, type HostFacts } from "../../infra/plan/capacity.js";

export interface RecordedResource {
  type: string;
  name: string;
  parent?: string;
  dependsOn: string[];
  /** Resources its inputs come from (Outputs of theirs among its inputs): the engine orders by these too. */
  inputDependsOn: string[];
  inputs: Record<string, unknown>;
  /** Whether its registration reached the engine (false when an input failed to resolve). */
  registered: boolean;
  /** Resource options as the program passed them (deleteBeforeReplace, ...). */
  deleteBeforeReplace?: boolean;
  ignoreChanges?: string[];
  /** The resource it is deleted with (deletedWith), by name. */
  deletedWith?: string;
}

export interface ProgramRun {
  /** What the program threw (bad config, infeasible plan), if anything. */
  error?: unknown;
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
  byName(name: string): RecordedResource;
}

/** What the fake verify step prints (the mocks' stand-in for a real connection test). */
export const FAKE_REPORT = {
  verdict: "pass",
  total: 42,
  perServerIp: { "10.0.0.2": 42 },
  diagnosis: "ok",
  reportDir: "reports/x",
};

/** The id the mocks give a docker.Image (its repoDigest: a local image's id). */
export const MOCK_REPO_DIGEST = "sha256:0123abcd";

/** Pulumi's wire marker of a secret value, as mocks see inputs: { [SECRET_SIG_KEY]: SECRET_SIG, value }. */
export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export function isSecretValue(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG;
}

/**
 * A Command's triggers without the leading digest of what it runs (infra/localScript.ts
 * replaceOnChange): asserts the digest is there, returns the upstream ids after it.
 */
export function upstreamTriggers(triggers: unknown): unknown[] {
  const list = triggers as unknown[];
  if (!Array.isArray(list) || typeof list[0] !== "string" || !/^[0-9a-f]{64}$/.test(list[0])) {
    throw new Error(`triggers should start with a sha256 hex digest of the step's scripts: ${JSON.stringify(triggers)}`);
  }
  return list.slice(1);
}

/**
 * Where the program stages its bundles in these runs (infra/install/stage.ts): one directory for
 * the test process, removed when it exits (bundling once serves every run).
 */
export const STAGE_DIR = mkdtempSync(join(tmpdir(), "c1m-stage-"));
process.env.C1M_STAGE_DIR = STAGE_DIR;
process.on("exit", () => rmSync(STAGE_DIR, { recursive: true, force: true }));

export interface RunOptions {
  /** The program's entry (another checkout's dist/infra/index.js); default this checkout's. */
  entry?: string;
  /** Where the program pins its facts (C1M_PINNED_DIR), kept after the run; default a directory of the run's own. */
  pinnedDir?: string;
  /** What a host's instance script prints (the live host's token); default nothing: a new host. */
  hostInstance?: string;
  stack?: string;
  facts?: HostFacts;
  /** Config keys Pulumi marks secret (`pulumi config set --secret`), e.g. ["c1m-lab:sshPrivateKey"]. */
  secretKeys?: string[];
  /** What a command resource prints, by resource name; undefined = the default stand-in. */
  stdout?: (name: string, type: string) => string | undefined;
  /** Makes a resource for real (test/support/realEngine.ts); undefined = the default stand-in. */
  create?: (args: pulumi.runtime.MockResourceArgs) => Promise<pulumi.runtime.MockResourceResult | undefined>;
}

export async function runProgram(config: Record<string, string>, options: RunOptions = {}): Promise<ProgramRun> {
  // A run of its own: no value pinned by an earlier run (infra/plan/pinned.ts), nothing written to the project.
  const pinned = options.pinnedDir ?? mkdtempSync(join(tmpdir(), "c1m-pinned-"));
  process.env.C1M_PINNED_DIR = pinned;
  const inputs = new Map<string, Record<string, unknown>>();
  const recorded: Omit<RecordedResource, "inputs" | "registered" | "inputDependsOn">[] = [];
  const inputDeps = new Map<string, Promise<string[]>>();
  let error: unknown;
  // An input that fails to resolve (an error thrown in an apply) rejects the registration, which
  // the SDK reports as an unhandled rejection (Pulumi prints it and fails the update): record it.
  // The failed resource never gets a URN, so everything waiting on it would wait forever: stop there.
  let failed: (reason: unknown) => void = () => {};
  const failure = new Promise<never>((_, reject) => (failed = reject));
  const onRejection = (reason: unknown) => {
    error ??= reason;
    failed(reason);
  };
  // Ours alone while the run lasts (node:test's own listener would fail whichever test is running).
  const others = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", onRejection);
  pulumi.runtime.setMocks(
    {
      async newResource(args) {
        inputs.set(args.name, args.inputs);
        const real = await options.create?.(args);
        if (real) return real;
        const state: Record<string, unknown> = { ...args.inputs };
        const custom = options.stdout?.(args.name, args.type);
        if (custom !== undefined) state.stdout = custom;
        else if (args.type === "command:local:Command")
          state.stdout = args.name.endsWith("-verify") ? JSON.stringify(FAKE_REPORT) : "4242";
        if (args.type === "docker:index/image:Image") state.repoDigest = MOCK_REPO_DIGEST;
        return { id: `${args.name}_id`, state };
      },
      call(args) {
        if (args.token === "command:local:run" && options.hostInstance && /\binstance\b/.test(String(args.inputs.command))) {
          return { stdout: `${options.hostInstance}\n`, stderr: "" };
        }
        if (args.token === "command:local:run") return { stdout: JSON.stringify(options.facts ?? REFERENCE_FACTS), stderr: "" };
        throw new Error(`unexpected call ${args.token}`);
      },
    },
    "c1m-lab",
    options.stack ?? "test",
    false,
  );
  pulumi.runtime.setAllConfig(config, options.secretKeys);
  const { default: main } = (await import(options.entry ?? "../../infra/index.js")) as {
    default: () => Promise<Record<string, unknown>>;
  };
  // Wait for every outstanding registration before the next run replaces the mocks.
  const outputs = await Promise.race([
    pulumi.runtime.runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation((a) => {
        const name = (r: pulumi.Resource) => (r as unknown as { __name: string }).__name;
        const deps = ([] as pulumi.Resource[]).concat((a.opts.dependsOn ?? []) as pulumi.Resource[]);
        inputDeps.set(
          a.name,
          resourcesOf(a.props).then(
            (rs) => [...rs].map(name),
            () => [],
          ),
        );
        recorded.push({
          type: a.type,
          name: a.name,
          parent: a.opts.parent && name(a.opts.parent),
          dependsOn: deps.map(name),
          deleteBeforeReplace: (a.opts as pulumi.CustomResourceOptions).deleteBeforeReplace,
          ignoreChanges: a.opts.ignoreChanges,
          deletedWith: a.opts.deletedWith && name(a.opts.deletedWith),
        });
        return undefined;
      });
      try {
        return await main();
      } catch (e) {
        // Returned rather than thrown: a throw here also rejects the Stack's own outputs, unhandled.
        error = e;
        return {};
      }
    }),
    failure,
  ])
    .catch((e: unknown) => {
      error ??= e;
      return {};
    })
    // After a failed registration the RPC queue never drains: close without waiting for it.
    .finally(() => (error === undefined ? pulumi.runtime.disconnect() : pulumi.runtime.disconnectSync()));
  // The SDK re-raises the failure once per waiting resource: let those arrive before the listeners go back.
  await new Promise((r) => setTimeout(r, error === undefined ? 0 : 50));
  process.off("unhandledRejection", onRejection);
  if (!options.pinnedDir) rmSync(pinned, { recursive: true, force: true });
  delete process.env.C1M_PINNED_DIR;
  for (const l of others) process.on("unhandledRejection", l as (...args: unknown[]) => void);
  const resolved = await resolveAll(outputs ?? {});
  // After a failed registration some inputs never resolve: no input edges then.
  const deps = new Map(error === undefined ? await Promise.all([...inputDeps].map(async ([n, p]) => [n, await p] as const)) : []);
  const resources = recorded
    .filter((r) => r.type !== "pulumi:pulumi:Stack")
    .map((r) => ({
      ...r,
      inputDependsOn: deps.get(r.name) ?? [],
      inputs: inputs.get(r.name) ?? {},
      registered: inputs.has(r.name),
    }));
  return {
    error,
    resources,
    outputs: resolved,
    byName(n) {
      const r = resources.find((x) => x.name === n);
      if (!r) throw new Error(`no resource named ${n}; have ${resources.map((x) => x.name).join(", ")}`);
      return r;
    },
  };
}

/** The resources the Outputs among `value` (nested in arrays, objects, promises) come from. */
async function resourcesOf(value: unknown): Promise<Set<pulumi.Resource>> {
  const found = new Set<pulumi.Resource>();
  const walk = async (v: unknown): Promise<void> => {
    if (pulumi.Output.isInstance(v)) {
      // The SDK's own (internal) accessor: what the engine is told this input depends on.
      const o = v as unknown as { allResources?: () => Promise<Set<pulumi.Resource>>; resources: () => Set<pulumi.Resource> };
      for (const r of await (o.allResources ? o.allResources() : Promise.resolve(o.resources()))) found.add(r);
    } else if (v instanceof Promise) await walk(await v);
    else if (Array.isArray(v)) for (const x of v) await walk(x);
    else if (v && typeof v === "object" && !pulumi.Resource.isInstance(v)) for (const x of Object.values(v)) await walk(x);
  };
  await walk(value);
  return found;
}

async function resolveAll(outputs: Record<string, unknown>): Promise<Record<string, unknown>> {
  const entries = await Promise.all(
    Object.entries(outputs).map(
      async ([k, v]) => [k, pulumi.Output.isInstance(v) ? await new Promise((r) => v.apply(r)) : v] as const,
    ),
  );
  return Object.fromEntries(entries);
}

// ---------------------------------------------------------------------------------------------
// Reading the scripts a run registered, without the builders that made them.

/**
 * The steps of a remote command line `timeout --kill-after=10 N bash -c <word>` (several joined
 * by ` && `): each one's timeout and its script, the word unquoted as sh would. Throws on any
 * other shape.
 */
export function remoteSteps(line: unknown): { timeoutSeconds: number; body: string }[] {
  const text = String(line);
  const steps: { timeoutSeconds: number; body: string }[] = [];
  let at = 0;
  for (;;) {
    const head = /^timeout --kill-after=10 (\d+) bash -c /.exec(text.slice(at));
    if (!head) throw new Error(`not a remote step at ${at}: ${JSON.stringify(text.slice(at, at + 80))}`);
    at += head[0].length;
    let body = "";
    while (at < text.length && text[at] !== " ") {
      if (text[at] === "'") {
        const end = text.indexOf("'", at + 1);
        if (end < 0) throw new Error(`unterminated quote at ${at}`);
        body += text.slice(at + 1, end);
        at = end + 1;
      } else if (text[at] === "\\") {
        body += text[at + 1] ?? "";
        at += 2;
      } else {
        body += text[at];
        at += 1;
      }
    }
    steps.push({ timeoutSeconds: Number(head[1]), body });
    if (at === text.length) return steps;
    if (!text.startsWith(" && ", at)) throw new Error(`expected " && " at ${at}: ${JSON.stringify(text.slice(at, at + 40))}`);
    at += 4;
  }
}

/** The script of a single remote step, checked to run under `timeout` with these seconds. */
export function remoteBody(line: unknown, timeoutSeconds: number): string {
  const steps = remoteSteps(line);
  assert.deepEqual(
    steps.map((s) => s.timeoutSeconds),
    [timeoutSeconds],
    `one remote step bounded by ${timeoutSeconds} s`,
  );
  return steps[0]!.body;
}

/** Each of `lines` is a whole line of `text`, in this order (other lines may come between). */
export function assertLinesInOrder(text: unknown, lines: string[], what: string): void {
  const all = String(text).split("\n");
  let from = 0;
  for (const line of lines) {
    const at = all.indexOf(line, from);
    assert.ok(at >= 0, `${what}: ${JSON.stringify(line)} ${all.includes(line) ? "comes too early" : "is not a line"}`);
    from = at + 1;
  }
}

/** The value bash gives `name` on the script's line that starts with `name=` (quotes undone as bash would). */
export function shellValue(text: unknown, name: string): string {
  const line = String(text)
    .split("\n")
    .find((l) => l.startsWith(`${name}=`));
  assert.ok(line, `no ${name}= line`);
  return execFileSync("bash", ["-c", `${line}\nprintf '%s' "$${name}"`], { encoding: "utf8" });
}
