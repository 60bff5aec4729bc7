/**
 * An array-backed FIFO with a moving head: O(1) push, peek and shift without
 * `Array.prototype.shift`'s O(n) copy. The consumed prefix is compacted once it
 * is both large and more than half of the array.
 *
 *   items: [ x x x | a b c d ]
 *            ^ consumed  ^ head
 */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  peek(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Takes the newest item out (the tail). */
  pop(): T | undefined {
    if (this.#items.length <= this.#head) return undefined;
    return this.#items.pop();
  }

  /** Keeps only the items `keep` accepts, in order (O(length)). */
  retain(keep: (item: T) => boolean): void {
    const kept: T[] = [];
    for (let i = this.#head; i < this.#items.length; i++) {
      const item = this.#items[i] as T;
      if (keep(item)) kept.push(item);
    }
    this.#items = kept;
    this.#head = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as T;
  }
}
