// The chaos table, as Markdown: printed by every run, and the report of a full run
// (docs/chaos/latest.md).
import { availableParallelism, cpus } from 'node:os';
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

/** The whole report: when and where it ran, the verdict, the table and the details per fault. */
export function report(rows: Row[], run: { command: string; engines: string[]; size: string }): string {
  const failed = rows.filter((row) => failures(row).length > 0).length;
  const at = new Date().toISOString().slice(0, 16).replace('T', ' ');
  return [
    `# Chaos run, ${at} UTC`,
    '',
    `\`${run.command}\`, ${run.size} size, engines ${run.engines.join(', ')}; Node ${process.version}, ` +
      `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores. ` +
      (failed === 0
        ? 'Every fault held: every must-be-zero column is 0 in every row.'
        : `${failed} of ${rows.length} faults FAILED.`),
    '',
    table(rows),
    '',
    'Per fault: refusals the fault explains, and the close codes the clients saw (with their own 1000 at the end):',
    '',
    details(rows),
    '',
  ].join('\n');
}
