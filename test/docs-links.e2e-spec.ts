// Every relative link in the README and docs/ reaches a file that exists, and every `#anchor` a
// heading of its target, so moving or renaming a document cannot leave a dead link behind.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { PACKAGE_ROOT } from '../src/config/env.js';

const DOCS = join(PACKAGE_ROOT, 'docs');
const FILES = [
  join(PACKAGE_ROOT, 'README.md'),
  join(PACKAGE_ROOT, 'client', 'README.md'),
  ...readdirSync(DOCS, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(DOCS, name)),
].filter((file) => existsSync(file));

const blank = (code: string) => code.replace(/[^\n]/g, ' ');
/** The text with fenced code blocks blanked out (lines kept). */
const outsideFences = (markdown: string) => markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, blank);
/** The text with inline code blanked out too, where links are links. */
const prose = (markdown: string) => outsideFences(markdown).replace(/`[^`\n]*`/g, blank);

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, heading] of outsideFences(readFileSync(file, 'utf8')).matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = slug(heading);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    result.add(n === 0 ? base : `${base}-${n}`);
  }
  return result;
}

/** Every `[text](target)` whose target is a path in this repository, with its line. */
function relativeLinks(file: string): { target: string; line: number }[] {
  const text = prose(readFileSync(file, 'utf8'));
  const links: { target: string; line: number }[] = [];
  for (const match of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = match[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, …
    links.push({ target, line: text.slice(0, match.index).split('\n').length });
  }
  return links;
}

describe('Links in the README and docs/', () => {
  it('finds the documents', () => {
    expect(FILES.map((f) => relative(PACKAGE_ROOT, f))).toEqual(
      expect.arrayContaining(['README.md', 'docs/protocol.md', 'docs/performance.md']),
    );
  });

  it.each(FILES.map((file) => [relative(PACKAGE_ROOT, file), file]))(
    '%s: every relative link and anchor resolves',
    (_name, file) => {
      const dead: string[] = [];
      for (const { target, line } of relativeLinks(file)) {
        const [path, anchor] = target.split('#', 2);
        const to = path === '' ? file : join(dirname(file), decodeURIComponent(path));
        if (!existsSync(to)) dead.push(`line ${line}: ${target} (no such file)`);
        else if (anchor && to.endsWith('.md') && statSync(to).isFile() && !anchors(to).has(anchor))
          dead.push(`line ${line}: ${target} (no such heading)`);
      }
      expect(dead).toEqual([]);
    },
  );
});
