/**
 * The alert rules with Debian's promtool: syntax (`check rules`), the unit tests of
 * alerts.test.yml (`test rules`), and that those tests cover every alert both ways.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ALERTS, REPO, run, type RuleFile } from './support';

const TESTS = path.join(REPO, 'deploy', 'prometheus', 'alerts.test.yml');
const rules = parse(fs.readFileSync(ALERTS, 'utf8')) as RuleFile;
const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);

interface RuleTests {
  rule_files: string[];
  tests: Array<{ name: string; alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}
const unitTests = parse(fs.readFileSync(TESTS, 'utf8')) as RuleTests;

test('promtool check rules accepts alerts.yml', () => {
  const res = run('promtool', ['check', 'rules', ALERTS]);
  expect(`${res.stdout}${res.stderr}`).toMatch(/SUCCESS: \d+ rules found/);
  expect(res.code).toBe(0);
});

test('promtool test rules passes every unit test of alerts.test.yml', () => {
  const res = run('promtool', ['test', 'rules', TESTS], { cwd: path.dirname(TESTS) });
  expect(`${res.stdout}${res.stderr}`).toContain('SUCCESS');
  expect(res.code).toBe(0);
});

test('the alerts the issue asks for are there', () => {
  expect(alerts.map((a) => a.alert).sort()).toEqual(
    [
      'MatrixNotaryOriginFetchesFailing', // origin failure ratio
      'MatrixNotaryRefreshBacklog', // refresh backlog
      'MatrixNotarySignerDown', // signer down
      'MatrixNotarySignerUnavailable', // signer unreachable from its clients
      'MatrixNotaryHighErrorRate', // error rate
      'MatrixNotaryQueriesSlow', // latency
      'MatrixNotaryRedisErrors', // Redis errors
      'MatrixNotaryKeyCollision', // key collisions refused
    ].sort(),
  );
});

test.each(alerts.map((a) => [a.alert!, a] as const))('%s has a severity, a summary, a description and a runbook entry', (name, alert) => {
  expect(['warning', 'critical']).toContain(alert.labels?.severity);
  expect(alert.annotations?.summary).toBeTruthy();
  expect(alert.annotations?.description).toBeTruthy();
  expect(alert.annotations?.runbook).toBe(`README.md, Monitoring, ${name}`);
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  expect(readme).toContain(`#### ${name}`);
});

test.each(alerts.map((a) => [a.alert!] as const))('%s has a unit test where it fires and one where it stays silent', (name) => {
  const cases = unitTests.tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.alertname === name);
  expect(cases.some((c) => c.exp_alerts.length > 0)).toBe(true);
  expect(cases.some((c) => c.exp_alerts.length === 0)).toBe(true);
});

test('the unit tests load the rules file itself', () => {
  expect(unitTests.rule_files).toEqual(['alerts.yml']);
});
