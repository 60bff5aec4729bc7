/**
 * Sticky percentage sampling: the same key and salt always land on the same
 * side, on every replica, and cohorts with different salts are independent.
 * FNV-1a (32-bit) over `salt + ":" + key` → a point in [0, 100).
 */
export function samplePoint(salt: string, key: string): number {
  let h = 0x811c9dc5;
  const s = `${salt}:${key}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3 fmix32) so close keys ("user1", "user2") spread evenly.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return ((h >>> 0) / 0x1_0000_0000) * 100;
}

export function inSample(percent: number, salt: string, key: string): boolean {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  return samplePoint(salt, key) < percent;
}
