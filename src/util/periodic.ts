/** A background loop: one pass at a time, the next `intervalMs` after the last ends, or at once when it asks. */
export interface Periodic {
  /** Runs the next pass now, unless one is running (it is followed at once if it asks). */
  wake(): void;
  /** Stops the loop and waits for a pass in progress. */
  stop(): Promise<void>;
}

/**
 * Runs `pass` every `intervalMs`; a pass that resolves true (more work is waiting) is followed
 * at once. A failed pass goes to `onError` and the loop goes on.
 */
export function runPeriodically(
  pass: () => Promise<boolean>,
  intervalMs: number,
  onError: (error: unknown) => void,
): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = (): void => {
    timer = undefined;
    let more = false;
    running = pass()
      .then((result) => {
        more = result;
      })
      .catch(onError)
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(tick, more ? 0 : intervalMs);
      });
  };
  timer = setTimeout(tick, intervalMs);
  return {
    wake() {
      if (stopped || running || timer === undefined) return;
      clearTimeout(timer);
      tick();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
