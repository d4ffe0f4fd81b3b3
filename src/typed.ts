// Typed arrays have a fixed length: growing one means allocating a larger one and copying. One helper
// for every growable column (FlowBatch's IPv6 side table, envelope event ranges, index timelines).

type Growable = Uint8Array | Int32Array | Uint32Array | Float64Array;

/** A copy of `a` with room for `capacity` elements (the tail is zero). */
export function grown<T extends Growable>(a: T, capacity: number): T {
  const g = new (a.constructor as new (n: number) => T)(capacity);
  g.set(a);
  return g;
}

type TypedCtor<T> = { new (buffer: ArrayBuffer, byteOffset: number, length: number): T; readonly BYTES_PER_ELEMENT: number };

/**
 * Named scratch arrays reused from one call to the next (the index freeze's temporaries). Each name keeps
 * one ArrayBuffer, grown by a quarter beyond the request when too small; `take` returns a view of the
 * first `n` elements with whatever the last call left there, so callers write before they read.
 * Why: V8 counts ArrayBuffer backing stores as external memory, and a freeze that allocated ~150 MB of
 * new temporaries started full mark-compact GCs of the builder's heap (~0.5–0.7 s each) every time.
 */
export class ScratchArrays {
  private readonly bufs = new Map<string, ArrayBuffer>();

  take<T>(name: string, Ctor: TypedCtor<T>, n: number): T {
    const bytes = Math.max(8, n * Ctor.BYTES_PER_ELEMENT);
    let buf = this.bufs.get(name);
    if (buf === undefined || buf.byteLength < bytes) {
      buf = new ArrayBuffer(bytes + (bytes >> 2));
      this.bufs.set(name, buf);
    }
    return new Ctor(buf, 0, n);
  }
}
