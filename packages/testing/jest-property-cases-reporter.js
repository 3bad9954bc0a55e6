'use strict';
// Sums the generated cases of the run's property-based tests, which carry their count in their
// names ("... [4000 generated cases]", see packages/protocol/test/arbitraries.ts withCases), and
// prints one line per file and the total after jest's own summary: issue 9 asks CI for at least
// 10,000 generated cases per run, and this shows how many ran.
const CASES = /\[(\d+) generated cases\]$/;

class PropertyCasesReporter {
  onRunComplete(_contexts, results) {
    const perFile = [];
    let properties = 0;
    let cases = 0;
    for (const file of results.testResults) {
      let fileCases = 0;
      let fileProperties = 0;
      for (const t of file.testResults) {
        const m = CASES.exec(t.title);
        if (!m || t.status !== 'passed') continue;
        fileProperties++;
        fileCases += Number(m[1]);
      }
      if (fileProperties === 0) continue;
      properties += fileProperties;
      cases += fileCases;
      perFile.push(`  ${file.testFilePath.replace(`${process.cwd()}/`, '')}: ${fileProperties} properties, ${fileCases} cases`);
    }
    if (properties === 0) return;
    process.stdout.write(`\nproperty-based tests passed: ${properties} properties, ${cases} generated cases\n${perFile.sort().join('\n')}\n`);
  }
}

module.exports = PropertyCasesReporter;
