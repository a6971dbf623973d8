// The chaos table, as Markdown (it goes into the README as printed).
import { MUST_BE_ZERO, type Row, failures } from './verdict.js';

const COLUMNS: [keyof Row, string][] = [
  ['fault', 'Fault'],
  ['engine', 'Engine'],
  ['sent', 'Events sent'],
  ['acked', 'Acked'],
  ['duplicateReplies', 'Duplicate replies'],
  ['inLog', 'Entries in log'],
  ['ackedButMissing', 'Acked-but-missing'],
  ['duplicatedInLog', 'Duplicated in log'],
  ['idsReused', 'Ids reused'],
  ['idsAboveHeadroom', 'Ids above headroom'],
  ['refusedWhileHealthy', 'Refused while healthy'],
  ['holes', 'Holes'],
  ['protocolErrors', 'Protocol errors'],
  ['unconfirmed', 'Unconfirmed at end'],
];

export function table(rows: Row[]): string {
  const header = `| ${COLUMNS.map(([, title]) => title).join(' | ')} |`;
  const rule = `|${COLUMNS.map(([key]) => (key === 'fault' || key === 'engine' ? '---' : '---:')).join('|')}|`;
  const body = rows.map((row) => {
    const cells = COLUMNS.map(([key]) => {
      const value = row[key] as string | number;
      const bad = (MUST_BE_ZERO as readonly string[]).includes(key) && value !== 0;
      return bad ? `**${String(value)}**` : String(value);
    });
    return `| ${cells.join(' | ')} |`;
  });
  return [header, rule, ...body].join('\n');
}

/** Per fault: refusals the fault explains, close codes seen, and the first findings. */
export function details(rows: Row[]): string {
  return rows
    .map((row) => {
      const verdict = failures(row);
      const lines = [
        `- ${row.fault} [${row.engine}]: ${verdict.length === 0 ? 'ok' : `FAILED (${verdict.join(', ')})`}; ` +
          `refused during the fault ${row.refusedInFault}; closes ${row.closes || 'none'}` +
          (row.inLostData > 0 ? `; confirmed before the data loss and lost with it ${row.inLostData}` : ''),
      ];
      if (verdict.length > 0) lines.push(...row.notes.slice(0, 12).map((note) => `    ${note}`));
      return lines.join('\n');
    })
    .join('\n');
}
