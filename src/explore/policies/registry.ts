/**
 * Naive designs the explorer injects into real components (alternatives to a
 * component's shipped policy) count their instances here, so a test can show
 * that a scenario's shipped variant ran the component as shipped: with no
 * policy of this directory in it.
 */
let created = 0;

/** Called by every policy's constructor. */
export function notePolicy(): void {
  created++;
}

/** Policies created so far in this realm. */
export function policiesCreated(): number {
  return created;
}
