// Process-wide state, shared by the ES module and the CommonJS build of this package when
// a process loads both (the dual-package hazard: `import` in one place, `require()` in
// another). Each piece lives on globalThis under a registered symbol and is created by
// whichever build asks first, so a process has one storage, one global registry, one
// refresher and one primary collector. The `v1` is the shape of this state: bump it when
// a piece changes shape, so two different versions of the package never share one.
export function processState<T>(name: string, create: () => T): T {
  const key = Symbol.for(`prom-multiproc.v1.${name}`);
  const shared = globalThis as unknown as Record<symbol, T | undefined>;
  return (shared[key] ??= create());
}
