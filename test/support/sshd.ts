// A real OpenSSH sshd for the tests that need one: its own host key and authorized keys, keys only,
// root allowed, on one address and port. `sshdArgs` for a caller that runs it its own way (inside a
// namespace); `startSshd` runs it in the foreground as a child of the test, on an address of this
// machine, and waits until it accepts connections.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import net from "node:net";

export interface SshdOptions {
  hostKey: string;
  authorizedKeys: string;
  listen: string;
  port: number;
  /** Default: none (foreground runs need no pid file). */
  pidFile?: string;
  extra?: string[];
}

export function sshdArgs(o: SshdOptions): string[] {
  // prettier-ignore
  return [
    "-f", "/dev/null", "-o", `HostKey=${o.hostKey}`, "-o", `AuthorizedKeysFile=${o.authorizedKeys}`,
    "-o", `PidFile=${o.pidFile ?? "none"}`, "-o", "StrictModes=no", "-o", `ListenAddress=${o.listen}`,
    "-p", String(o.port), "-o", "PermitRootLogin=yes", "-o", "PasswordAuthentication=no",
    "-o", "KbdInteractiveAuthentication=no", ...(o.extra ?? []),
  ];
}

/** Whether something accepts TCP connections at host:port. */
export function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
  });
}

export async function startSshd(o: SshdOptions): Promise<ChildProcess> {
  mkdirSync("/run/sshd", { recursive: true });
  const child = spawn("/usr/sbin/sshd", ["-D", ...sshdArgs(o)], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    if (await accepts(o.listen, o.port)) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`sshd did not come up on ${o.listen}:${o.port}`);
}

/** Stops an sshd startSshd started and waits until it is gone. */
export function stopSshd(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
