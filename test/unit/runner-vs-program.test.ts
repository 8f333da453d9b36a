// One step list, two runners: for every shipped stack the engine-free runner (infra/direct)
// runs, labUp's and labDown's calls (recorded, nothing run) against what the Pulumi program
// registers under mocks. The program's registrations are the oracle: each create script it
// registers for a step is one labUp runs, byte for byte; each docker object carries the same
// settings; labUp's order respects every dependency the engine orders by (dependsOn, dependsOn a
// component = on all its children, and Outputs among a resource's inputs); labDown runs each
// delete script, in reverse. Differences by design are named below, each with its reason; a
// stack the runner does not run is refused with its message.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { pulumiConfigJson, readStackConfig, stackNames } from "../../infra/config/stackFile.js";
import { parseLabConfig } from "../../infra/config/schema.js";
import { REFERENCE_FACTS } from "../../infra/plan/capacity.js";
import { labDown, labUp } from "../../infra/direct/runner.js";
import { directLabSteps } from "../../infra/direct/steps.js";
import { MOCK_REPO_DIGEST, runProgram, shellValue, type ProgramRun, type RecordedResource } from "../support/mockProgram.js";
import { BUILT_IMAGE_ID, pairs, readDockerArgs, recorder, type Call } from "../support/directRecorder.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");

/** The stacks the direct runner runs (worked out from the stack files: netns, no clients.hosts). */
const COMPARED = ["both", "client-ips", "find-limit", "local", "million", "same-host", "snat-1ip", "snat-3ip"];
/** The stacks it refuses, with what it says. */
const REFUSED: Record<string, string> = {
  "two-hosts":
    "clients.hosts (clients on several Docker hosts) needs the Pulumi engine; only stacks without it run without the engine",
  multipass: "server.provider multipass needs the Pulumi engine; only netns stacks run without it",
  qemu: "server.provider qemu needs the Pulumi engine; only netns stacks run without it",
  ssh: "server.provider ssh needs the Pulumi engine; only netns stacks run without it",
};

/** Program steps whose create labUp does not run, and why. */
const PROGRAM_ONLY_CREATES: [RegExp, string][] = [
  [/^pinned-facts$/, "the program pins node, home and the fd limit for its state; the direct runner reads them on each run"],
  [
    /^clients-(image-cleanup|sweep|stop)$|^clients-.+-drain$/,
    "a step of the engine's teardown: its create is a no-op (`true`), its delete is what labDown runs",
  ],
  [/^connection-test-verify$/, "lab:* runs verify after labUp (infra/cli/lab.ts viaDirect), from the same install"],
];
/** Program steps whose delete labDown does not run, and why. */
const PROGRAM_ONLY_DELETES: [RegExp, string][] = [[/^pinned-facts$/, "the direct runner pins nothing"]];
/**
 * The image cleanup's delete removes the client image by the id the program's build gave it (a
 * rebuild moves the name to the new image); labDown removes it by name: its record is written
 * before the build. The rest of the script is the same.
 */
const IMAGE_CLEANUP = "clients-image-cleanup";
/** Container labels only the program sets: the engine's restart trigger (the server's and NAT pool's ids). */
const PROGRAM_ONLY_LABELS = ["c1m-lab.upstream"];

const IMAGE = "docker:index/image:Image";
const NETWORK = "docker:index/network:Network";
const CONTAINER = "docker:index/container:Container";
const COMMAND = "command:local:Command";

const isComponent = (r: RecordedResource) => r.type.startsWith("c1m-lab:");
const matchesAny = (name: string, list: [RegExp, string][]) => list.some(([re]) => re.test(name));
/** A script's name, from the trap line infra/shell.ts script() puts at its top. */
const nameOf = (text: unknown) => /c1m-lab: (.*) failed at line/.exec(String(text))?.[1] ?? String(text).split("\n")[0];
const lastLine = (text: unknown) => String(text).trimEnd().split("\n").at(-1);

interface Compared {
  run: ProgramRun;
  up: Call[];
  down: Call[];
  downProblems: string[];
}

const compared = new Map<string, Promise<Compared>>();
function compare(stack: string): Promise<Compared> {
  let p = compared.get(stack);
  if (!p) {
    p = (async () => {
      const run = await runProgram(pulumiConfigJson(root, stack, { shipped: true }), { stack });
      assert.equal(run.error, undefined, String(run.error));
      const config = parseLabConfig(readStackConfig(root, stack, { shipped: true }));
      // The program's facts under the mocks are REFERENCE_FACTS: the runner gets the same.
      const { steps } = directLabSteps(root, config, stack, REFERENCE_FACTS);
      const up = recorder();
      labUp(steps, { log: () => {}, exec: up.exec });
      const down = recorder();
      const downProblems = labDown(steps, { log: () => {}, exec: down.exec });
      return { run, up: up.calls, down: down.calls, downProblems };
    })();
    compared.set(stack, p);
  }
  return p;
}

/** Each custom resource's dependencies, transitively: what the engine creates before it. */
function ancestors(run: ProgramRun): Map<string, Set<string>> {
  const byName = new Map(run.resources.map((r) => [r.name, r]));
  const descendants = (name: string): string[] =>
    run.resources.filter((r) => r.parent === name).flatMap((r) => (isComponent(r) ? descendants(r.name) : [r.name]));
  const direct = (r: RecordedResource) =>
    [...r.dependsOn, ...r.inputDependsOn].flatMap((d) => (isComponent(byName.get(d)!) ? descendants(d) : [d]));
  const memo = new Map<string, Set<string>>();
  const of = (name: string): Set<string> => {
    const done = memo.get(name);
    if (done) return done;
    const all = new Set<string>();
    memo.set(name, all);
    for (const d of direct(byName.get(name)!)) {
      all.add(d);
      for (const a of of(d)) all.add(a);
    }
    return all;
  };
  for (const r of run.resources) if (!isComponent(r)) of(r.name);
  return memo;
}

const dockerCalls = (calls: Call[], first: string) =>
  calls.flatMap((c, i) => (c.kind === "docker" && c.args[0] === first ? [{ i, args: c.args }] : []));
const byType = (run: ProgramRun, type: string) => run.resources.filter((r) => r.type === type);

/** Where labUp runs each program resource it runs (index into its calls). */
function upIndex(run: ProgramRun, up: Call[]): Map<string, number> {
  const at = new Map<string, number>();
  for (const r of byType(run, COMMAND)) {
    const i = up.findIndex((c) => c.kind === "bash" && c.script === r.inputs.create);
    if (i >= 0) at.set(r.name, i);
  }
  for (const r of byType(run, IMAGE)) {
    const i = up.findIndex((c) => c.kind === "docker" && c.args[0] === "build");
    if (i >= 0) at.set(r.name, i);
  }
  for (const r of byType(run, NETWORK)) {
    const i = up.findIndex((c) => c.kind === "docker" && c.args[1] === "create" && c.args.at(-1) === r.inputs.name);
    if (i >= 0) at.set(r.name, i);
  }
  for (const r of byType(run, CONTAINER)) {
    const i = up.findIndex(
      (c) => c.kind === "docker" && c.args[0] === "run" && readDockerArgs(c.args).flags.get("--name")?.[0] === r.inputs.name,
    );
    if (i >= 0) at.set(r.name, i);
  }
  return at;
}

/** The image cleanup's delete as labDown runs it: the same lines, the image named instead of its id. */
function isImageCleanupByName(script: string, programDelete: string, imageName: string): boolean {
  const strip = (s: string) => s.split("\n").filter((l) => !l.startsWith("id="));
  return (
    JSON.stringify(strip(script)) === JSON.stringify(strip(programDelete)) &&
    strip(programDelete).length === programDelete.split("\n").length - 1 &&
    shellValue(script, "id") === imageName
  );
}

/** Where labDown undoes each program resource (index into its calls). */
function downIndex(run: ProgramRun, down: Call[]): Map<string, number> {
  const at = new Map<string, number>();
  const imageName = String(byType(run, IMAGE)[0]?.inputs.imageName);
  for (const r of byType(run, COMMAND)) {
    const del = r.inputs.delete;
    if (typeof del !== "string" || del === "") continue;
    const i = down.findIndex(
      (c) =>
        c.kind === "bash" && (c.script === del || (r.name === IMAGE_CLEANUP && isImageCleanupByName(c.script, del, imageName))),
    );
    if (i >= 0) at.set(r.name, i);
  }
  const rm = dockerCalls(down, "rm");
  for (const r of byType(run, CONTAINER)) if (rm.length) at.set(r.name, rm[0]!.i);
  const networkRm = down.findIndex((c) => c.kind === "docker" && c.args[0] === "network" && c.args[1] === "rm");
  for (const r of byType(run, NETWORK)) if (networkRm >= 0) at.set(r.name, networkRm);
  // A docker.Image's delete leaves a local image where it is: the image cleanup step removes it.
  return at;
}

test("every shipped stack is compared or refused", () => {
  assert.deepEqual(stackNames(root), [...COMPARED, ...Object.keys(REFUSED)].sort());
});

for (const [stack, message] of Object.entries(REFUSED)) {
  test(`${stack}: the direct runner refuses it, naming what runs it`, () => {
    const config = parseLabConfig(readStackConfig(root, stack, { shipped: true }));
    assert.throws(() => directLabSteps(root, config, stack, REFERENCE_FACTS), { name: "DirectUnsupported", message });
  });
}

/**
 * Every dependency edge (step waits on dep) between steps the runner ran holds: `wrong` names
 * an edge the order breaks, null when it keeps it. At least 10 edges must be checked.
 */
function assertEveryEdge(
  deps: Map<string, Set<string>>,
  at: Map<string, number>,
  wrong: (step: string, dep: string) => string | null,
): void {
  let checked = 0;
  for (const [step, before] of deps) {
    if (!at.has(step)) continue;
    for (const dep of before) {
      if (!at.has(dep)) continue;
      checked++;
      const problem = wrong(step, dep);
      assert.ok(problem === null, problem ?? "");
    }
  }
  assert.ok(checked >= 10, `dependencies checked: ${checked}`);
}

for (const stack of COMPARED) {
  test(`${stack}: labUp runs every create script the program registers, byte for byte, and no other`, async () => {
    const { run, up } = await compare(stack);
    const commands = byType(run, COMMAND);
    const runnerSteps = commands.filter((r) => !matchesAny(r.name, PROGRAM_ONLY_CREATES));
    for (const r of commands.filter((r) => matchesAny(r.name, PROGRAM_ONLY_CREATES) && r.name !== "connection-test-verify")) {
      assert.equal(lastLine(r.inputs.create), "true", `${r.name}: a no-op create`);
    }
    const scripts = up.flatMap((c) => (c.kind === "bash" ? [c] : []));
    for (const r of runnerSteps) {
      assert.ok(
        scripts.some((c) => c.script === r.inputs.create),
        `labUp never runs ${r.name}'s create: ${nameOf(r.inputs.create)}`,
      );
    }
    for (const c of scripts) {
      assert.ok(
        runnerSteps.some((r) => r.inputs.create === c.script),
        `labUp runs a script the program has no step for (${c.what}): ${nameOf(c.script)}`,
      );
    }
    assert.ok(runnerSteps.length >= 7, `the lab's steps were found (${runnerSteps.length})`);
  });

  test(`${stack}: labUp's docker image, networks and containers carry the program's settings`, async () => {
    const { run, up } = await compare(stack);
    const [image, ...moreImages] = byType(run, IMAGE);
    assert.ok(image && moreImages.length === 0, "one client image");
    const builds = dockerCalls(up, "build");
    assert.equal(builds.length, 1, "one build");
    // Not compared: the builder. The provider builds through the API with the classic builder
    // (builderVersion BuilderV1), `docker build` with the CLI's default; same Dockerfile, context, args.
    const build = readDockerArgs(builds[0]!.args);
    const b = image.inputs.build as { context: string; dockerfile: string; args: Record<string, string> };
    assert.deepEqual(
      {
        name: build.flags.get("-t"),
        args: pairs(build.flags.get("--build-arg")),
        dockerfile: build.flags.get("-f"),
        context: build.positional.slice(1),
      },
      { name: [image.inputs.imageName], args: b.args, dockerfile: [b.dockerfile], context: [b.context] },
    );

    const networks = byType(run, NETWORK);
    const creates = up.flatMap((c) => (c.kind === "docker" && c.args[0] === "network" ? [readDockerArgs(c.args)] : []));
    assert.deepEqual(
      creates.map((n) => ({
        verb: n.positional.slice(0, 2),
        name: n.positional[2],
        driver: n.flags.get("--driver"),
        subnets: n.flags.get("--subnet"),
        options: pairs(n.flags.get("-o")),
        labels: pairs(n.flags.get("--label")),
      })),
      networks.map((r) => ({
        verb: ["network", "create"],
        name: r.inputs.name,
        driver: [r.inputs.driver],
        subnets: (r.inputs.ipamConfigs as { subnet: string }[]).map((i) => i.subnet),
        options: r.inputs.options ?? {},
        labels: Object.fromEntries((r.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value])),
      })),
    );

    // Each runs the image its own build made: the program the Image's id, labUp what its build printed.
    const BUILT = "the id of the image the lab built";
    const containers = byType(run, CONTAINER);
    const runs = dockerCalls(up, "run").map((c) => readDockerArgs(c.args));
    assert.equal(runs.length, containers.length, "one docker run per container");
    for (const [i, r] of containers.entries()) {
      const c = runs[i]!;
      const labels = Object.fromEntries(
        (r.inputs.labels as { label: string; value: string }[])
          .filter((l) => !PROGRAM_ONLY_LABELS.includes(l.label))
          .map((l) => [l.label, l.value]),
      );
      const ulimits = r.inputs.ulimits as { name: string; soft: number; hard: number }[];
      assert.deepEqual(
        {
          name: c.flags.get("--name"),
          network: c.flags.get("--network"),
          restart: c.flags.get("--restart"),
          ulimits: c.flags.get("--ulimit"),
          logOpts: pairs(c.flags.get("--log-opt")),
          sysctls: pairs(c.flags.get("--sysctl")),
          labels: pairs(c.flags.get("--label")),
          env: c.flags.get("--env"),
          image: c.positional.slice(1).map((x) => (x === BUILT_IMAGE_ID ? BUILT : x)),
        },
        {
          name: [r.inputs.name],
          network: (r.inputs.networksAdvanced as { name: string }[]).map((n) => n.name),
          restart: [r.inputs.restart],
          ulimits: ulimits.map((u) => `${u.name}=${u.soft}:${u.hard}`),
          logOpts: r.inputs.logOpts,
          sysctls: r.inputs.sysctls ?? {},
          labels,
          env: r.inputs.envs,
          image: [r.inputs.image === MOCK_REPO_DIGEST ? BUILT : r.inputs.image],
        },
        `container ${String(r.inputs.name)}`,
      );
    }
    const other = up.filter((c) => c.kind === "docker" && !["build", "network", "run"].includes(c.args[0]!));
    assert.deepEqual(other, [], "no other docker call");
  });

  test(`${stack}: labUp's order respects every dependency among the program's steps`, async () => {
    const { run, up } = await compare(stack);
    const at = upIndex(run, up);
    const deps = ancestors(run);
    // The chain the engine orders by, as the program registers it (the input edges recorded).
    for (const [step, before] of [
      ["secondary-ips-addresses", "server-host-namespace"],
      ["tuning-sysctls", "server-host-namespace"],
      ["connection-server-process", "tuning-sysctls"],
      ["connection-server-process", "connection-server-install"],
      ["clients-nat-pool", `clients-${String(byType(run, NETWORK)[0]!.inputs.name)}`],
    ] as const) {
      assert.ok(deps.get(step)?.has(before), `${step} waits on ${before} in the program`);
    }
    assertEveryEdge(deps, at, (step, dep) =>
      at.get(dep)! < at.get(step)!
        ? null
        : `labUp runs ${step} (call ${at.get(step)}) before ${dep} (call ${at.get(dep)}), which it waits on`,
    );
  });

  test(`${stack}: labDown runs every delete script the program registers, in reverse dependency order`, async () => {
    const { run, down, downProblems } = await compare(stack);
    assert.deepEqual(downProblems, []);
    const at = downIndex(run, down);
    const deletes = byType(run, COMMAND).filter((r) => typeof r.inputs.delete === "string" && r.inputs.delete !== "");
    for (const r of deletes.filter((r) => !matchesAny(r.name, PROGRAM_ONLY_DELETES))) {
      assert.ok(at.has(r.name), `labDown never runs ${r.name}'s delete: ${nameOf(r.inputs.delete)}`);
    }
    const mapped = new Set(at.values());
    for (const [i, c] of down.entries()) {
      if (c.kind === "bash") assert.ok(mapped.has(i), `labDown runs a script the program has no delete for (${c.what})`);
    }
    // The containers and networks labDown lists are the lab's: every one the program makes carries the label it filters on.
    for (const [verb, type] of [
      ["ps", CONTAINER],
      ["network", NETWORK],
    ] as const) {
      const lists = dockerCalls(down, verb).filter((c) => c.args.includes("--filter"));
      assert.ok(lists.length > 0, `labDown lists ${type}`);
      for (const l of lists) {
        const filter = l.args[l.args.indexOf("--filter") + 1]!.replace(/^label=/, "");
        const [k, v] = [filter.slice(0, filter.indexOf("=")), filter.slice(filter.indexOf("=") + 1)];
        for (const r of byType(run, type)) {
          const labels = r.inputs.labels as { label: string; value: string }[];
          assert.ok(
            labels.some((x) => x.label === k && x.value === v),
            `${r.name} carries ${filter}`,
          );
        }
      }
    }
    const deps = ancestors(run);
    assertEveryEdge(deps, at, (step, dep) =>
      at.get(step)! < at.get(dep)!
        ? null
        : `labDown undoes ${dep} (call ${at.get(dep)}) before ${step} (call ${at.get(step)}), which waits on it`,
    );
  });
}
