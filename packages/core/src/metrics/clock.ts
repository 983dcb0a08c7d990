// Wall-clock seconds for `mostrecent` gauge timestamps; replaceable so tests can replay
// Python's fixtures, which were written with a fixed clock.
export const clock = {
  now: (): number => Date.now() / 1000,
};
