// The CPU a figure was measured on, for every benchmark's first line: a speed ratio holds only
// for the CPU it was measured on (machines of one kind differ: some have AVX-512, some not).
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
