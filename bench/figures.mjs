// What the benchmarks print with their figures: the CPU they were measured on (every benchmark's
// first line: a speed ratio holds only for the CPU it was measured on, and machines of one kind
// differ, some with AVX-512, some not), and the order statistics of their samples.
import fs from 'node:fs';

/** The model name, family and model numbers, core count and the vector extensions that matter here. */
export function cpu() {
  const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const field = (name) => info.match(new RegExp(`^${name}\\s*: (.*)$`, 'm'))?.[1];
  const flags = field('flags') ?? '';
  return {
    model: field('model name'), family: field('cpu family'), model_number: field('model'),
    avx512: /\bavx512f\b/.test(flags), avx2: /\bavx2\b/.test(flags),
    cores: info.match(/^processor/gm)?.length,
  };
}

/** The lower median of `values`. */
export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

/** The 90th percentile of `values` (the nearest rank at or above it). */
export const p90 = (values) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * 0.9))];
