// Runs the compiled Pulumi entry point under Pulumi's mocks and records what it registers:
// type, name, parent, dependsOn and resolved inputs of every resource, plus the stack outputs.
import * as pulumi from "@pulumi/pulumi";
import { REFERENCE_FACTS, type HostFacts } from "../../infra/capacity.js";

export interface RecordedResource {
  type: string;
  name: string;
  parent?: string;
  dependsOn: string[];
  inputs: Record<string, unknown>;
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

export async function runProgram(
  config: Record<string, string>,
  options: { stack?: string; facts?: HostFacts } = {},
): Promise<ProgramRun> {
  const inputs = new Map<string, Record<string, unknown>>();
  const recorded: Omit<RecordedResource, "inputs">[] = [];
  let error: unknown;
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        inputs.set(args.name, args.inputs);
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "command:local:Command")
          state.stdout = args.name.endsWith("-verify") ? JSON.stringify(FAKE_REPORT) : "4242";
        if (args.type === "docker:index/image:Image") state.repoDigest = "sha256:0123abcd";
        return { id: `${args.name}_id`, state };
      },
      call(args) {
        if (args.token === "command:local:run") return { stdout: JSON.stringify(options.facts ?? REFERENCE_FACTS), stderr: "" };
        throw new Error(`unexpected call ${args.token}`);
      },
    },
    "c1m-lab",
    options.stack ?? "test",
    false,
  );
  pulumi.runtime.setAllConfig(config);
  const { default: main } = (await import("../../infra/index.js")) as { default: () => Promise<Record<string, unknown>> };
  // Wait for every outstanding registration before the next run replaces the mocks.
  const outputs = await pulumi.runtime
    .runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation((a) => {
        const name = (r: pulumi.Resource) => (r as unknown as { __name: string }).__name;
        const deps = ([] as pulumi.Resource[]).concat((a.opts.dependsOn ?? []) as pulumi.Resource[]);
        recorded.push({ type: a.type, name: a.name, parent: a.opts.parent && name(a.opts.parent), dependsOn: deps.map(name) });
        return undefined;
      });
      try {
        return await main();
      } catch (e) {
        // Returned rather than thrown: a throw here also rejects the Stack's own outputs, unhandled.
        error = e;
        return {};
      }
    })
    .finally(() => pulumi.runtime.disconnect());
  const resolved = await resolveAll(outputs ?? {});
  const resources = recorded
    .filter((r) => r.type !== "pulumi:pulumi:Stack")
    .map((r) => ({ ...r, inputs: inputs.get(r.name) ?? {} }));
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

async function resolveAll(outputs: Record<string, unknown>): Promise<Record<string, unknown>> {
  const entries = await Promise.all(
    Object.entries(outputs).map(
      async ([k, v]) => [k, pulumi.Output.isInstance(v) ? await new Promise((r) => v.apply(r)) : v] as const,
    ),
  );
  return Object.fromEntries(entries);
}
