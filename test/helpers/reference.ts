/**
 * The reference facts (../shared/reference beside the checkout, as in CI):
 * QEMU's transcripts, device trees and monitor output that tests compare with.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REFERENCE_DIR = fileURLToPath(new URL('../../../shared/reference/', import.meta.url));

/** Path of a file under shared/reference/qemu-virt. */
export function qemuVirtPath(name: string): string {
  return `${REFERENCE_DIR}qemu-virt/${name}`;
}

export function qemuVirt(name: string): string {
  return readFileSync(qemuVirtPath(name), 'utf8');
}
