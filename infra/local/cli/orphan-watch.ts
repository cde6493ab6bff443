/**
 * Calls `onOrphaned` once the process that started us is gone. `npm run x` puts a shell between npm and
 * node, and a SIGTERM sent to npm ends that shell without reaching us; we notice by being re-parented.
 */
export function stopWhenOrphaned(onOrphaned: () => void, intervalMs = 500): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onOrphaned();
    }
  }, intervalMs);
  timer.unref();
}
