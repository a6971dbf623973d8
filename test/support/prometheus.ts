/** Prometheus text exposition as a map from sample (name with labels) to value. */
export function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\S+) (\S+)$/.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${line}`);
    samples.set(match[1], Number(match[2]));
  }
  return samples;
}

export async function scrape(base: string): Promise<Map<string, number>> {
  return parsePrometheus(await (await fetch(`${base}/metrics`)).text());
}
