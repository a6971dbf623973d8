// An in-memory `react-native` AppState (what the README example uses), mapped in for that module by
// jest.config.js; `change(state)` plays the OS.
type Listener = (state: string) => void;
const listeners = new Set<Listener>();

export const AppState = {
  addEventListener(type: 'change', listener: Listener) {
    listeners.add(listener);
    return { remove: () => listeners.delete(listener) };
  },
  /** Test only. */
  change(state: string) {
    for (const listener of listeners) listener(state);
  },
};
