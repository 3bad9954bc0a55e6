/**
 * `npm run bench:report [-- RESULTS_FILE]`: renders docs/benchmarks.md and docs/benchmarks.svg
 * again from a results file (default bench/results/latest.json) without running anything, e.g.
 * to make a run the committed reference: copy it to bench/results/reference.json and render that.
 */
import fs from 'node:fs';
import path from 'node:path';
import { renderMarkdown } from './report-markdown';
import { RESULTS_VERSION, type BenchResults } from './results';
import { renderSvg } from './svg';

export const REPO_ROOT = path.resolve(__dirname, '../../../..');

/** Writes the report and chart of `results`, naming `resultsFile` (relative to the repository) in it. */
export function writeDocs(results: BenchResults, resultsFile: string): void {
  const docs = path.join(REPO_ROOT, 'docs');
  fs.mkdirSync(docs, { recursive: true });
  fs.writeFileSync(path.join(docs, 'benchmarks.svg'), renderSvg(results));
  fs.writeFileSync(path.join(docs, 'benchmarks.md'), renderMarkdown(results, resultsFile));
}

if (require.main === module) {
  const file = path.resolve(process.argv[2] ?? path.join(REPO_ROOT, 'bench/results/latest.json'));
  if (!fs.existsSync(file)) {
    process.stderr.write(`bench:report: ${file} does not exist: run \`npm run bench\` first, or name a results file\n`);
    process.exit(2);
  }
  const results = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResults;
  if (results.version !== RESULTS_VERSION) {
    process.stderr.write(`bench:report: ${file} is results version ${results.version}; this renderer reads version ${RESULTS_VERSION}\n`);
    process.exit(2);
  }
  writeDocs(results, path.relative(REPO_ROOT, file));
  process.stdout.write(`bench:report: wrote docs/benchmarks.md and docs/benchmarks.svg from ${path.relative(process.cwd(), file)}\n`);
}
