/**
 * The store's keys in snapshot order, kept from one snapshot to the next so that a snapshot sorts
 * only the keys added since the last one and merges them in, instead of sorting every key again.
 * At a million keys the full sort (with a comparator on `[key, value]` entries) took ~1.7 s of a
 * ~5-s snapshot on this project's machines, every checkpoint, on every replica; sorting 20k new
 * keys and merging takes ~0.15 s.
 *
 * Keys are the map's own lower-case hex strings: their UTF-16 order is the bytewise order of the
 * keys they encode (digits before a-f, a prefix before its extensions), so the default string
 * comparison — `Array.prototype.sort` without a comparator, and `<` — is the canonical order.
 */
export class KeyOrder {
  /** Ascending and unique; may still hold keys deleted since the snapshot that produced it. */
  private sorted: string[] = [];
  /**
   * Keys inserted since (each one absent when inserted), in insertion order: may repeat a key that
   * was deleted and inserted again, or hold one deleted since. `undefined`: not tracked, sort all.
   */
  private added: string[] | undefined = [];

  /** Records that `key` was just inserted into `live` (it was absent). */
  inserted(key: string, live: ReadonlyMap<string, unknown>): void {
    if (!this.added) return;
    this.added.push(key);
    // A store that churns keys and is rarely snapshotted would otherwise keep every key it ever
    // inserted: past the store's own size, sorting all of it at the next snapshot costs no more.
    if (this.added.length > 1024 && this.added.length > live.size) this.forget();
  }

  /** Drops what is known of the order: the next `entrySteps` sorts every live key. */
  forget(): void {
    this.sorted = [];
    this.added = undefined;
  }

  /**
   * The keys of `live` in ascending order, with their values (parallel arrays), and from now on the
   * order the next call starts from; deleted keys fall out here. In steps of about `STEP_KEYS` keys
   * (see `StateMachine.snapshotSteps`); `live` must not change meanwhile.
   */
  *entrySteps<V>(live: ReadonlyMap<string, V>): Generator<void, { keys: string[]; values: V[] }> {
    const keys: string[] = [];
    const values: V[] = [];
    const take = (k: string): void => {
      const v = live.get(k);
      if (v !== undefined) {
        keys.push(k);
        values.push(v);
      }
    };
    // Nothing of this order changes before the last step (but for sorting `added` in place): a
    // computation left unfinished leaves it as it was.
    const added = this.added;
    if (!added) {
      const all = yield* sortInSteps([...live.keys()]);
      for (let i = 0; i < all.length; i++) {
        take(all[i]!);
        if (i % STEP_KEYS === STEP_KEYS - 1) yield;
      }
    } else {
      const a = yield* sortInSteps(added);
      const s = this.sorted;
      let i = 0;
      let j = 0;
      let n = 0;
      let last: string | undefined;
      // Merge, taking each key once: the same key may be in both lists (deleted, then inserted
      // again) or twice in `added`.
      while (i < s.length || j < a.length) {
        const k = j >= a.length || (i < s.length && s[i]! <= a[j]!) ? s[i++]! : a[j++]!;
        if (k !== last) take(k);
        last = k;
        if (++n % STEP_KEYS === 0) yield;
      }
    }
    this.sorted = keys;
    this.added = [];
    return { keys, values };
  }
}

/** Keys handled per step of `entrySteps` (~2-8 ms on this project's machines at a million keys). */
export const STEP_KEYS = 4096;

/**
 * `items` sorted (default string order), in steps: runs of `step` sorted natively, a step each,
 * then merged pairwise, `step` comparisons a step. One native sort of the keys added between two
 * HotStuff snapshots (up to ~500k) held the event loop for ~0.2-0.6 s here. Sorts `items` in place
 * when it fits in one step; otherwise leaves it as it was.
 */
export function* sortInSteps(items: string[], step = STEP_KEYS): Generator<void, string[]> {
  if (items.length <= step) return items.sort();
  let runs: string[][] = [];
  for (let i = 0; i < items.length; i += step) {
    runs.push(items.slice(i, i + step).sort());
    yield;
  }
  let n = 0;
  while (runs.length > 1) {
    const merged: string[][] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const a = runs[r]!;
      const b = runs[r + 1];
      if (!b) {
        merged.push(a);
        continue;
      }
      const out = new Array<string>(a.length + b.length);
      let i = 0;
      let j = 0;
      let o = 0;
      while (i < a.length && j < b.length) {
        out[o++] = a[i]! <= b[j]! ? a[i++]! : b[j++]!;
        if (++n % step === 0) yield;
      }
      while (i < a.length) out[o++] = a[i++]!;
      while (j < b.length) out[o++] = b[j++]!;
      merged.push(out);
    }
    runs = merged;
  }
  return runs[0]!;
}

/** Runs a stepped computation to its end. */
export function runSteps<T>(steps: Iterator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}
