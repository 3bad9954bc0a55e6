/** Tables for the terminal (aligned columns) and for Markdown, from the same rows (pure). */

export interface Table {
  header: string[];
  rows: string[][];
  /** Columns aligned left (the rest are numbers, aligned right). */
  leftColumns?: number[];
}

export function textTable(t: Table, indent = '  '): string {
  const left = new Set(t.leftColumns ?? [0]);
  const widths = t.header.map((h, i) => Math.max([...h].length, ...t.rows.map((r) => [...(r[i] ?? '')].length)));
  const pad = (cell: string, i: number) => {
    const fill = ' '.repeat(Math.max(0, widths[i] - [...cell].length));
    return left.has(i) ? cell + fill : fill + cell;
  };
  const line = (cells: string[]) => indent + cells.map((c, i) => pad(c ?? '', i)).join('  ').trimEnd();
  return [line(t.header), indent + widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

function escapeCell(cell: string): string {
  return cell.replace(/\|/g, '\\|');
}

export function markdownTable(t: Table): string {
  const left = new Set(t.leftColumns ?? [0]);
  const line = (cells: string[]) => `| ${cells.map((c) => escapeCell(c ?? '')).join(' | ')} |`;
  return [line(t.header), `|${t.header.map((_, i) => (left.has(i) ? ' --- ' : ' ---: ')).join('|')}|`, ...t.rows.map(line)].join('\n');
}
