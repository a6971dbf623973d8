// The globals every runtime the client supports has (browsers, React Native, Node), declared here
// so the package needs neither DOM nor Node typings.
declare function setTimeout(callback: () => void, ms?: number): unknown;
declare function clearTimeout(handle: unknown): void;
declare function setInterval(callback: () => void, ms?: number): unknown;
declare function clearInterval(handle: unknown): void;
declare class URLSearchParams {
  get(name: string): string | null;
  getAll(name: string): string[];
}
declare class URL {
  constructor(url: string, base?: string);
  readonly searchParams: URLSearchParams;
}
// ES2022, used by the service's protocol/ (whose types the client takes).
interface ObjectConstructor {
  hasOwn(target: object, key: PropertyKey): boolean;
}
