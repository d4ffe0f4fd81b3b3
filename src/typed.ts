// Typed arrays have a fixed length: growing one means allocating a larger one and copying. One helper
// for every growable column (FlowBatch's IPv6 side table, envelope event ranges, index timelines).

type Growable = Uint8Array | Int32Array | Uint32Array | Float64Array;

/** A copy of `a` with room for `capacity` elements (the tail is zero). */
export function grown<T extends Growable>(a: T, capacity: number): T {
  const g = new (a.constructor as new (n: number) => T)(capacity);
  g.set(a);
  return g;
}
