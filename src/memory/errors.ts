/** A setup error in the memory map (never raised by guest accesses). */
export class MemoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryError';
  }
}
