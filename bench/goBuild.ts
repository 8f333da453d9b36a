// Builds one of bench/go's reference programs with this machine's Go (standard library only, so
// nothing is downloaded) into dist/bench/go/<name>: a static binary, so it also runs inside a
// client container whatever that container's libc is.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

/** The binary's path. Throws with what to install when `go` is missing. */
export function buildGoProgram(name: "ref" | "floor"): string {
  try {
    execFileSync("go", ["version"], { stdio: "ignore" });
  } catch {
    throw new Error(`the Go reference (bench/go/${name}) needs Go on PATH: install it (Debian: apt-get install golang-go) and run again`);
  }
  const out = `${root}/dist/bench/go/${name}`;
  execFileSync("go", ["build", "-trimpath", "-o", out, `./${name}`], {
    cwd: `${root}/bench/go`,
    env: { ...process.env, CGO_ENABLED: "0", GOTOOLCHAIN: "local", GOFLAGS: "-buildvcs=false" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  return out;
}
