/**
 * The README's configuration table, rendered from VARIABLES. A test compares it with the README,
 * so adding a variable without documenting it fails the build (`npm run docs:config` prints it).
 */
import { VARIABLES } from './variables';

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

export function renderConfigTable(): string {
  const rows = Object.values(VARIABLES).map((v) => {
    const def = v.defaultDoc ?? (v.default === undefined ? 'none' : `\`${v.default}\``);
    return `| \`${v.name}\` | ${escapeCell(def)} | ${escapeCell(v.doc)} |`;
  });
  // Read by Node itself, not by the notary; listed so operators find it beside the others.
  rows.push('| `NODE_EXTRA_CA_CERTS` | none | Node\'s own: extra CAs (PEM file) for the whole process |');
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
