/** Small helpers the benchmark scripts share: medians, rounding, and the machine facts of a result file. */
import { cpus, loadavg } from 'node:os';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

export const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

export const loadAverages = (): number[] => loadavg().map((x) => round(x));

/** The `date`, `machine` and `node` fields of a result file; `loadAtStart` from loadAverages(). */
export function machineFacts(loadAtStart: number[]) {
  return {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      loadavgAtStart: loadAtStart,
      loadavgAtEnd: loadAverages(),
      note: 'the machine is shared with other engineers; contenders alternate order per rep; the load averages say how busy it was',
    },
    node: process.version,
  };
}
