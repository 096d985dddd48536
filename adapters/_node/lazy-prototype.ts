/**
 * Makes a lazily built stand-in pass for a Fetch class: every accessor and method of `fetchClass`
 * that `standIn` does not define itself is answered by the real object `realOf` makes on first use,
 * and `instanceof fetchClass` holds. The Fetch classes' accessors check their receiver, so each one
 * is redefined on the stand-in.
 *
 * @param standIn The stand-in's class.
 * @param fetchClass `Request` or `Response`.
 * @param realOf The real object behind a stand-in, made on first use.
 */
export function inheritLazily<T extends object, R extends object>(
  standIn: abstract new (...args: never[]) => T,
  fetchClass: abstract new (...args: never[]) => R,
  realOf: (standIn: T) => R,
): void {
  const target = standIn.prototype as object;
  const source = fetchClass.prototype as object;
  for (const name of Object.getOwnPropertyNames(source)) {
    if (name === "constructor" || Object.hasOwn(target, name)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(source, name)!;
    if (descriptor.get !== undefined) {
      Object.defineProperty(target, name, {
        configurable: true,
        enumerable: descriptor.enumerable ?? false,
        get(this: T) {
          return Reflect.get(realOf(this), name);
        },
      });
    } else if (typeof descriptor.value === "function") {
      Object.defineProperty(target, name, {
        configurable: true,
        writable: true,
        enumerable: descriptor.enumerable ?? false,
        value(this: T, ...args: unknown[]) {
          const real = realOf(this);
          return (Reflect.get(real, name) as (...a: unknown[]) => unknown).apply(real, args);
        },
      });
    }
  }
  Object.setPrototypeOf(target, source);
}
