#!/usr/bin/env node
/**
 * Checks the workspace packages' graph (ARCHITECTURE.md, "Packages"):
 * - every `@matrix-notary/x` a package's src imports is in its `dependencies`, every one its tests
 *   import is in `dependencies` or `devDependencies`, and nothing declared goes unused (a stale
 *   dependency hides the real graph);
 * - no relative import leaves its package, except a test borrowing another package's test helpers;
 * - the graph of `dependencies` has no cycle, and no edge that RULES forbids;
 * - tsconfig `references` are exactly `dependencies`, so `tsc -b` builds in the same order.
 * Prints the graph, one package a line in build order; exits 1 with one line per problem.
 * Run by `npm test` (pretest) and so by CI.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PACKAGES = path.join(ROOT, 'packages');
const SCOPE = '@matrix-notary/';

/** Edges that must never exist, with why: the graph's intent, not just its current shape. */
const RULES = [
  { from: 'api', to: 'signer', why: 'api pods must load no key-handling code: use signer-client', runtimeOnly: true },
  { from: 'worker', to: 'signer', why: 'workers must load no key-handling code: use signer-client', runtimeOnly: true },
  { from: '*', to: 'cli', why: 'the CLI is the top: nothing builds on it' },
  { from: '*', to: 'testing', why: 'test helpers are only for tests (devDependencies)', runtimeOnly: true },
  { from: 'protocol', to: '*', why: 'protocol is the base: pure Matrix rules, no workspace imports' },
];

function listFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full));
    else if (/\.(ts|js)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** Module specifiers of import/export-from/require/import() in a source text. */
function specifiers(text) {
  const found = [];
  const re = /(?:\bfrom\s*|\brequire\(\s*|\bimport\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) found.push(m[1]);
  return found;
}

function readPackages() {
  const packages = new Map();
  for (const dir of fs.readdirSync(PACKAGES).sort()) {
    const manifest = path.join(PACKAGES, dir, 'package.json');
    if (!fs.existsSync(manifest)) continue;
    const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    const ours = (deps) => new Set(Object.keys(deps ?? {}).filter((d) => d.startsWith(SCOPE)).map((d) => d.slice(SCOPE.length)));
    const tsconfigPath = path.join(PACKAGES, dir, 'tsconfig.json');
    const tsconfig = fs.existsSync(tsconfigPath) ? JSON.parse(fs.readFileSync(tsconfigPath, 'utf8')) : {};
    const references = new Set((tsconfig.references ?? []).map((r) => path.basename(r.path)));
    packages.set(dir, { dir, deps: ours(pkg.dependencies), devDeps: ours(pkg.devDependencies), references });
  }
  return packages;
}

function check() {
  const packages = readPackages();
  const problems = [];
  for (const pkg of packages.values()) {
    const root = path.join(PACKAGES, pkg.dir);
    const usedBySrc = new Set();
    const usedByTests = new Set();
    const sourceDirs = [['src', usedBySrc], ['bin', usedBySrc], ['test', usedByTests], ['test-cluster', usedByTests]];
    for (const [sub, used] of sourceDirs) {
      const isTest = used === usedByTests;
      for (const file of listFiles(path.join(root, sub))) {
        const where = path.relative(ROOT, file);
        for (const spec of specifiers(fs.readFileSync(file, 'utf8'))) {
          if (spec.startsWith(SCOPE)) {
            const target = spec.slice(SCOPE.length).split('/')[0];
            // A test may import its own package by name: it then tests the public surface.
            if (target === pkg.dir) {
              if (!isTest) problems.push(`${where}: imports its own package as ${spec}: use a relative import`);
            } else if (!packages.has(target)) problems.push(`${where}: imports ${spec}, which is not a workspace package`);
            else used.add(target);
          } else if (spec.startsWith('.')) {
            const resolved = path.resolve(path.dirname(file), spec);
            const rel = path.relative(PACKAGES, resolved).split(path.sep);
            if (rel[0] === '..' || rel[0] === pkg.dir) continue;
            const borrowsTestHelpers = isTest && (rel[1] === 'test' || rel[1] === 'test-cluster');
            if (!borrowsTestHelpers) problems.push(`${where}: reaches into packages/${rel.slice(0, 2).join('/')} by a relative path: import ${SCOPE}${rel[0]} instead`);
          }
        }
      }
    }
    // `bin` runs the built src, so what it needs is a runtime dependency too.
    for (const dep of usedBySrc) {
      if (!pkg.deps.has(dep)) problems.push(`packages/${pkg.dir}: src imports ${SCOPE}${dep} but package.json does not list it in dependencies`);
    }
    for (const dep of usedByTests) {
      if (!pkg.deps.has(dep) && !pkg.devDeps.has(dep)) problems.push(`packages/${pkg.dir}: tests import ${SCOPE}${dep} but package.json lists it in neither dependencies nor devDependencies`);
    }
    for (const dep of pkg.deps) {
      if (!usedBySrc.has(dep)) problems.push(`packages/${pkg.dir}: dependencies list ${SCOPE}${dep}, which src never imports (a test-only need belongs in devDependencies)`);
    }
    for (const dep of pkg.devDeps) {
      if (!usedByTests.has(dep)) problems.push(`packages/${pkg.dir}: devDependencies list ${SCOPE}${dep}, which no test imports`);
    }
    for (const dep of pkg.deps) {
      if (!pkg.references.has(dep)) problems.push(`packages/${pkg.dir}/tsconfig.json: no reference to ../${dep}, which it depends on (tsc -b would build them out of order)`);
    }
    for (const ref of pkg.references) {
      if (!pkg.deps.has(ref)) problems.push(`packages/${pkg.dir}/tsconfig.json: references ../${ref}, which is not among its dependencies`);
    }
    for (const rule of RULES) {
      if (rule.from !== '*' && rule.from !== pkg.dir) continue;
      const edges = rule.runtimeOnly ? pkg.deps : new Set([...pkg.deps, ...pkg.devDeps]);
      for (const dep of edges) {
        if (dep === rule.to || (rule.to === '*' && dep !== pkg.dir)) problems.push(`packages/${pkg.dir} depends on ${SCOPE}${dep}: ${rule.why}`);
      }
    }
  }
  // Build order (a topological sort) and cycles.
  const order = [];
  const state = new Map();
  const visit = (name, trail) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      problems.push(`dependency cycle: ${[...trail.slice(trail.indexOf(name)), name].join(' -> ')}`);
      return;
    }
    state.set(name, 'visiting');
    for (const dep of [...(packages.get(name)?.deps ?? [])].sort()) if (packages.has(dep)) visit(dep, [...trail, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of packages.keys()) visit(name, []);
  return { packages, order, problems };
}

const { packages, order, problems } = check();
if (!process.argv.includes('--quiet')) {
  process.stdout.write('package graph (build order; each depends only on packages above it):\n');
  for (const name of order) {
    const deps = [...packages.get(name).deps].sort();
    process.stdout.write(`  ${name.padEnd(14)} ${deps.length ? `-> ${deps.join(', ')}` : '(no workspace dependencies)'}\n`);
  }
}
if (problems.length > 0) {
  process.stderr.write(`check-package-graph: ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
  process.exit(1);
}
