// Typed arrays have a fixed length: growing one means allocating a larger one and copying. One helper
// for every growable column (FlowBatch's IPv6 side table, envelope event ranges, index timelines).

type Growable = Uint8Array | Int32Array | Uint32Array | Float64Array;

/** A copy of `a` with room for `capacity` elements (the tail is zero), off the heap's books when `a` is (offHeap). */
export function grown<T extends Growable>(a: T, capacity: number): T {
  const C = a.constructor as TypedCtor<T> & (new (n: number) => T);
  const g = a.buffer instanceof SharedArrayBuffer ? offHeap(C, capacity) : new C(capacity);
  g.set(a);
  return g;
}

type TypedCtor<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; readonly BYTES_PER_ELEMENT: number };

/**
 * A zeroed typed array in a SharedArrayBuffer, for the index freeze's big temporaries. V8 counts an
 * ArrayBuffer's memory as external allocation, and every ~64 MB of it starts a full mark-compact of
 * the JS heap (a 1M-prefix builder's: ~375 ms each, `node --trace-gc`); a SharedArrayBuffer's memory
 * does not (Node 20 here: 300 MB of new ArrayBuffers beside a 230 MB heap, two extra mark-compacts; as
 * SharedArrayBuffers, none). The memory is freed all the same once unreachable.
 */
export function offHeap<T>(Ctor: TypedCtor<T>, n: number): T {
  return new Ctor(new SharedArrayBuffer(Math.max(8, n * Ctor.BYTES_PER_ELEMENT)), 0, n);
}

/**
 * Named scratch arrays reused from one call to the next (the index freeze's temporaries). Each name keeps
 * one SharedArrayBuffer (see offHeap), grown by a quarter beyond the request when too small; `take`
 * returns a view of the first `n` elements with whatever the last call left there, so callers write
 * before they read. Why: a freeze that allocated ~150 MB of new ArrayBuffers every time started full
 * mark-compact GCs of the builder's heap (~0.5–0.7 s each); kept (and off V8's books), they cost
 * neither that nor the page faults of fresh memory.
 */
export class ScratchArrays {
  private readonly bufs = new Map<string, SharedArrayBuffer>();

  take<T>(name: string, Ctor: TypedCtor<T>, n: number): T {
    const bytes = Math.max(8, n * Ctor.BYTES_PER_ELEMENT);
    let buf = this.bufs.get(name);
    if (buf === undefined || buf.byteLength < bytes) {
      buf = new SharedArrayBuffer(bytes + (bytes >> 2)); // off the heap's books (offHeap)
      this.bufs.set(name, buf);
    }
    return new Ctor(buf, 0, n);
  }
}
