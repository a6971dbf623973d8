// The timer functions every runtime the client supports has (browsers, React Native, Node), declared
// here so the package needs neither DOM nor Node typings.
declare function setTimeout(callback: () => void, ms?: number): unknown;
declare function clearTimeout(handle: unknown): void;
declare function setInterval(callback: () => void, ms?: number): unknown;
declare function clearInterval(handle: unknown): void;
