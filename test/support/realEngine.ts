// A stand-in for the Pulumi engine where the real one cannot be built (the Go module proxy
// refuses the command and docker providers here): the compiled program runs under Pulumi's mocks
// (runProgram), and every resource it registers is made for real, in the order the SDK registers
// them (a resource waits for what it depends on, as under the engine): local.Command's `create`
// with `bash -c` (its interpreter) and its environment; remote.Command's `create` over ssh with
// the resource's own connection, its hostKey pinned as the provider pins it (ssh hands the string
// to the login shell, as the provider's session does); CopyToRemote with scp; the Docker image, network and containers with the docker
// CLI. `destroy` runs the deletes in reverse order of creation (local deletes see
// PULUMI_COMMAND_STDOUT, as the provider sets it). What runs is exactly the registered scripts.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { isSecretValue } from "./mockProgram.js";

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program (argv) with input, bounded; never throws. */
export function run(
  argv: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 900_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${stderr}${e.message}` });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    // A program that exits without reading its input closes the pipe: not an error of ours.
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}

/** ssh/scp options for a throwaway host (a fresh VM's key is unknown): batch mode, the key given. */
export function sshOptions(keyPath: string): string[] {
  return [
    "-i",
    keyPath,
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=15",
  ];
}

/** The docker provider counts a delete of what is already gone as done. */
async function gone(ran: Promise<Ran>): Promise<Ran> {
  const r = await ran;
  return r.code !== 0 && /not found|No such/i.test(r.stderr) ? { ...r, code: 0 } : r;
}

/** Inputs as the provider sees them: secrets unwrapped, asset fields awaited. */
async function plain(v: unknown): Promise<unknown> {
  if (isSecretValue(v)) return plain(v.value);
  if (v instanceof Promise) return plain(await v);
  if (Array.isArray(v)) return Promise.all(v.map(plain));
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = await plain(x);
    return out;
  }
  return v;
}

interface Connection {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  /** "TYPE BASE64": the only key the host may present (the provider's ssh.FixedHostKey). */
  hostKey?: string;
  dialErrorLimit?: number;
}

interface Made {
  name: string;
  type: string;
  destroy?: () => Promise<Ran>;
}

export class RealEngine {
  /** Every resource made, in order, with what it printed. */
  readonly made: Made[] = [];
  readonly log: string[] = [];
  private readonly outputs = new Map<string, Ran>();
  private readonly destroyed: Made[] = [];
  private readonly tmp = mkdtempSync(join(tmpdir(), "c1mt-engine-"));
  private keys = 0;

  constructor(private readonly logLine: (line: string) => void = () => {}) {}

  private note(line: string): void {
    this.log.push(line);
    this.logLine(line);
  }

  private sshArgs(c: Connection): string[] {
    const n = this.keys++;
    const key = join(this.tmp, `key-${n}`);
    writeFileSync(key, c.privateKey.endsWith("\n") ? c.privateKey : `${c.privateKey}\n`, { mode: 0o600 });
    if (c.hostKey === undefined) return sshOptions(key);
    const knownHosts = join(this.tmp, `known_hosts-${n}`);
    writeFileSync(knownHosts, `${c.port === 22 ? c.host : `[${c.host}]:${c.port}`} ${c.hostKey}\n`);
    const pinned = sshOptions(key).map((o) =>
      o === "StrictHostKeyChecking=no"
        ? "StrictHostKeyChecking=yes"
        : o === "UserKnownHostsFile=/dev/null"
          ? `UserKnownHostsFile=${knownHosts}`
          : o,
    );
    return [...pinned, "-o", `HostKeyAlgorithms=${c.hostKey.split(" ")[0]}`];
  }

  /** Like the provider, a connection that cannot be made is retried (dialErrorLimit); a command that fails is not. */
  private async dial(c: Connection, argv: string[], input?: string): Promise<Ran> {
    for (let attempt = 1; ; attempt++) {
      const r = await run(argv, { input });
      const dialError = r.code === 255 && /connect to host|Connection (refused|timed out|closed)|kex_exchange/.test(r.stderr);
      // At most 6 tries here (the provider allows dialErrorLimit): a dead VM must fail a test in bounded time.
      if (!dialError || attempt >= Math.min(c.dialErrorLimit ?? 10, 6)) return r;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  private ssh(c: Connection, command: string, input?: string): Promise<Ran> {
    return this.dial(c, ["ssh", ...this.sshArgs(c), "-p", String(c.port), `${c.user}@${c.host}`, command], input);
  }

  /** The mocks' newResource: undefined for components (the default stand-in registers them). */
  readonly create = async (args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult | undefined> => {
    if (!args.custom) return undefined;
    const inputs = (await plain(args.inputs)) as Record<string, unknown>;
    const id = `${args.name}_id`;
    const started = Date.now();
    const done = (r: Ran, made: Made): pulumi.runtime.MockResourceResult => {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (r.code !== 0) {
        this.note(`✗ ${args.name} (${secs}s, exit ${r.code})`);
        throw new Error(`${args.name} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-1000)}`);
      }
      this.note(`✓ ${args.name} (${secs}s)`);
      this.made.push(made);
      this.outputs.set(args.name, r);
      return { id, state: { ...args.inputs, stdout: r.stdout, stderr: r.stderr } };
    };
    switch (args.type) {
      case "command:local:Command": {
        const env = { ...process.env, ...((inputs.environment as Record<string, string>) ?? {}) };
        const r = await run(["/bin/bash", "-c", String(inputs.create)], { env, cwd: inputs.dir as string | undefined });
        const del = inputs.delete as string | undefined;
        return done(r, {
          name: args.name,
          type: args.type,
          destroy: del
            ? () =>
                run(["/bin/bash", "-c", del], {
                  env: { ...env, PULUMI_COMMAND_STDOUT: r.stdout, PULUMI_COMMAND_STDERR: r.stderr },
                })
            : undefined,
        });
      }
      case "command:remote:Command": {
        const c = inputs.connection as Connection;
        const r = await this.ssh(c, String(inputs.create), inputs.stdin as string | undefined);
        const del = inputs.delete as string | undefined;
        return done(r, { name: args.name, type: args.type, destroy: del ? () => this.ssh(c, del) : undefined });
      }
      case "command:remote:CopyToRemote": {
        const c = inputs.connection as Connection;
        const source = inputs.source as { path?: string; text?: string };
        let file = source.path;
        if (file === undefined) {
          file = join(this.tmp, `asset-${args.name}`);
          writeFileSync(file, source.text ?? "");
        }
        const r = await this.dial(c, [
          "scp",
          "-q",
          ...this.sshArgs(c),
          "-P",
          String(c.port),
          file,
          `${c.user}@${c.host}:${String(inputs.remotePath)}`,
        ]);
        return done(r, { name: args.name, type: args.type });
      }
      case "docker:index/image:Image": {
        const build = inputs.build as { context: string; dockerfile: string; args: Record<string, string> };
        const name = String(inputs.imageName);
        const r = await run([
          "docker",
          "build",
          "-q",
          "-t",
          name,
          ...Object.entries(build.args).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]),
          "-f",
          build.dockerfile,
          build.context,
        ]);
        const result = done(r, { name: args.name, type: args.type });
        result.state.repoDigest = r.stdout.trim();
        return result;
      }
      case "docker:index/network:Network": {
        const labels = (inputs.labels as { label: string; value: string }[]).flatMap((l) => ["--label", `${l.label}=${l.value}`]);
        const opts = Object.entries((inputs.options as Record<string, string>) ?? {}).flatMap(([k, v]) => ["-o", `${k}=${v}`]);
        const subnet = (inputs.ipamConfigs as { subnet: string }[])[0]!.subnet;
        const name = String(inputs.name);
        const r = await run(["docker", "network", "create", "--driver", "bridge", "--subnet", subnet, ...opts, ...labels, name]);
        return done(r, { name: args.name, type: args.type, destroy: () => gone(run(["docker", "network", "rm", name])) });
      }
      case "docker:index/container:Container": {
        const name = String(inputs.name);
        const u = (inputs.ulimits as { name: string; soft: number; hard: number }[])[0]!;
        const r = await run([
          "docker",
          "run",
          "-d",
          "--name",
          name,
          "--network",
          (inputs.networksAdvanced as { name: string }[])[0]!.name,
          "--restart",
          String(inputs.restart),
          "--ulimit",
          `${u.name}=${u.soft}:${u.hard}`,
          ...Object.entries((inputs.logOpts as Record<string, string>) ?? {}).flatMap(([k, v]) => ["--log-opt", `${k}=${v}`]),
          ...Object.entries((inputs.sysctls as Record<string, string>) ?? {}).flatMap(([k, v]) => ["--sysctl", `${k}=${v}`]),
          ...(inputs.envs as string[]).flatMap((e) => ["-e", e]),
          ...(inputs.labels as { label: string; value: string }[]).flatMap((l) => ["--label", `${l.label}=${l.value}`]),
          String(inputs.image),
        ]);
        return done(r, { name: args.name, type: args.type, destroy: () => gone(run(["docker", "rm", "-f", name])) });
      }
      default:
        throw new Error(`the engine stand-in cannot make ${args.type} (${args.name})`);
    }
  };

  /** What a resource's create printed. */
  output(name: string): Ran {
    const r = this.outputs.get(name);
    if (!r) throw new Error(`${name} was not made`);
    return r;
  }

  /**
   * Runs every delete in reverse order of creation, like `pulumi destroy`: what was deleted leaves
   * the state, what failed stays. Returns the failures (none = a clean destroy).
   */
  async destroy(): Promise<string[]> {
    const problems: string[] = [];
    for (const m of [...this.made].reverse()) {
      if (m.destroy) {
        const started = Date.now();
        const r = await m.destroy();
        this.note(`${r.code === 0 ? "✓" : "✗"} delete ${m.name} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
        if (r.code !== 0) {
          problems.push(`${m.name}: exit ${r.code}: ${r.stderr.trim().slice(-500)}`);
          continue;
        }
      }
      this.made.splice(this.made.indexOf(m), 1);
      this.destroyed.push(m);
    }
    return problems;
  }

  /** The deletes of the last destroy once more, as a destroy interrupted after its deletes would (each must be a no-op). */
  async destroyAgain(): Promise<string[]> {
    this.made.push(...this.destroyed.reverse());
    this.destroyed.length = 0;
    return this.destroy();
  }

  dispose(): void {
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
