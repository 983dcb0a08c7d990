// Stand-ins for a class, a function or an object whose module is loaded on first use
// (heavy-modules.ts). A stand-in class constructs, extends, `instanceof`s and reads its
// statics as the real one: every trap answers from the real class, loaded when first
// touched.

/** A class (any constructor, a private one included) that loads on first use: `new`, `extends`, `instanceof`, static members. */
export function lazyClass<C extends object>(name: string, load: () => C): C {
  let real: C | undefined;
  const get = (): C => (real ??= load());
  // A named placeholder, so the stand-in prints as the class it stands for.
  const placeholder = { [name]: function () {} }[name]!;
  const stand: C = new Proxy(placeholder as unknown as C, {
    // `new Stand()` makes an instance of the real class; `class X extends Stand` keeps X.
    construct: (_target, args, newTarget) => Reflect.construct(get() as unknown as Function, args, (newTarget === stand ? get() : newTarget) as Function),
    apply: (_target, thisArg, args) => Reflect.apply(get() as unknown as Function, thisArg, args),
    get: (_target, key) => Reflect.get(get(), key),
    set: (_target, key, value) => Reflect.set(get(), key, value),
    has: (_target, key) => Reflect.has(get(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(get()),
  });
  return stand;
}

/** A function that loads its module on its first call. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function lazyFunction<F extends (...args: any[]) => unknown>(name: string, load: () => F): F {
  const stand = { [name](this: unknown, ...args: unknown[]) { return load().apply(this, args); } }[name]!;
  return stand as F;
}

/** An object that loads its module when first touched. */
export function lazyObject<T extends object>(load: () => T): T {
  let real: T | undefined;
  const get = (): T => (real ??= load());
  return new Proxy({} as T, {
    get: (_target, key) => Reflect.get(get(), key),
    set: (_target, key, value) => Reflect.set(get(), key, value),
    has: (_target, key) => Reflect.has(get(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(get()),
  });
}
