/** Types of scripts/sea.mjs for the TypeScript benchmarks that make single executables too. */
export function makeSea(o: {
  main: string;
  assets?: Record<string, string>;
  out: string;
  work: string;
}): string;
