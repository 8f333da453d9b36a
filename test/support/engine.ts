// The Pulumi engine for the tests that drive the real CLI: found, or a failure saying how to get it.
import { findEngine, missingPlugins, type Engine } from "../../infra/cli/engine.js";

export async function requireEngine(root: string, options: { plugins?: boolean } = {}): Promise<Engine> {
  let engine: Engine;
  try {
    engine = await findEngine(root);
  } catch (e) {
    throw new Error(
      `this test needs the Pulumi engine: run \`npm run engine:build\` (Go ≥ 1.24 and the Go module proxy) — ${(e as Error).message}`,
    );
  }
  const missing = options.plugins ? missingPlugins(engine, root) : [];
  if (missing.length) {
    throw new Error(`this test needs the provider plugins ${missing.join(", ")}: npm run engine:providers (see the README)`);
  }
  return engine;
}
