// A destroy that stops making progress is interrupted, so lab:down can try again instead of
// waiting forever. Seen at a million (bench/README.md): the engine kept waiting on a step whose
// script had ended, its connection to the command provider gone on the provider's side; nothing
// moved for 13 minutes until interrupted, and the next destroy finished in under a minute.
import { spawnSync } from "node:child_process";

export interface StallWatch {
  /** Progress seen: the clock starts again. */
  poke(): void;
  /** Stops watching (the operation ended). */
  stop(): void;
  /** True once onStall has run. */
  readonly stalled: boolean;
}

/** Calls onStall once when poke() has not been called for `ms`. */
export function stallWatch(ms: number, onStall: () => void): StallWatch {
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      onStall();
    }, ms);
  };
  arm();
  return {
    poke: () => {
      if (!stalled) arm();
    },
    stop: () => clearTimeout(timer),
    get stalled() {
      return stalled;
    },
  };
}

/**
 * The Automation API interrupts with one SIGINT, on which the CLI waits for the steps in flight,
 * and the stalled one never ends: a second SIGINT makes the CLI record them as pending and exit.
 */
export function interruptAgain(bin: string, stack: string): void {
  spawnSync("pkill", ["-INT", "-f", `^${bin} destroy .*--stack ${stack}( |$)`]);
}
