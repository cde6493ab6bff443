/** Helpers shared by the benchmarks: timing, medians, and what a DynamoDB client sent. */

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Runs `work` `runs` times and returns each run's milliseconds. */
export async function timeRuns(runs: number, work: (run: number) => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    await work(run);
    times.push(performance.now() - started);
  }
  return times;
}

export const perSecond = (count: number, ms: number) => count / (ms / 1000);
export const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;
/** `value` as a multiple of `baseline`, with the digits a small ratio needs (0.01x, 0.6x, 17x). */
export const ratio = (value: number, baseline: number) => {
  const times = value / baseline;
  return `${round(times, times >= 10 ? 0 : times >= 1 ? 1 : 2)}x`;
};
