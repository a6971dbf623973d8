import { ingestCap, parseOpenFilesLimit } from './open-files.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max processes             95853                95853                processes
Max open files            20000                20000                files
Max locked memory         8388608              8388608              bytes
`;

describe('open files', () => {
  it('reads the soft open-files limit from /proc/self/limits', () => {
    expect(parseOpenFilesLimit(LIMITS)).toBe(20000);
    expect(parseOpenFilesLimit(LIMITS.replace('20000                20000', '1024 4096'))).toBe(1024);
    expect(parseOpenFilesLimit(LIMITS.replace('20000                20000', 'unlimited unlimited'))).toBe(
      undefined,
    );
    expect(parseOpenFilesLimit('')).toBe(undefined);
  });

  it('keeps MAX_CONNECTIONS when it fits under the limit less the headroom', () => {
    expect(ingestCap(10_000, 256, 20_000)).toEqual({
      cap: 10_000,
      openFiles: 20_000,
      level: 'info',
      message: 'Ingest cap 10000 (open-files limit 20000, FD_HEADROOM 256)',
    });
  });

  it('caps at the limit less the headroom, with a warning, when MAX_CONNECTIONS does not fit', () => {
    expect(ingestCap(30_000, 256, 20_000)).toEqual({
      cap: 19_744,
      openFiles: 20_000,
      level: 'warn',
      message:
        'MAX_CONNECTIONS (30000) + FD_HEADROOM (256) exceeds the open-files limit 20000; Ingest cap is 19744: ' +
        'further ingest upgrades get HTTP 503 so /health, probes and /metrics keep answering ' +
        '(raise the limit, e.g. LimitNOFILE= or ulimit -n, or lower MAX_CONNECTIONS)',
    });
    expect(ingestCap(10, 256, 100).cap).toBe(0);
  });

  it('with workers, compares each worker share with its own limit', () => {
    expect(ingestCap(100_000, 256, 20_000, 6)).toEqual({
      cap: 19_744,
      openFiles: 20_000,
      level: 'info',
      message: "This worker's ingest cap 19744 (open-files limit 20000, FD_HEADROOM 256)",
    });
    expect(ingestCap(100_000, 256, 20_000, 4).level).toBe('warn');
  });

  it('without a readable limit, MAX_CONNECTIONS is the cap', () => {
    expect(ingestCap(5, 256, undefined)).toEqual({
      cap: 5,
      openFiles: undefined,
      level: 'info',
      message: 'Ingest cap 5 (MAX_CONNECTIONS); open-files limit unknown',
    });
  });
});
