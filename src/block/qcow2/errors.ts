/**
 * Metadata that points where it must not (past the end of the file, into the
 * header or another table, an impossible refcount). The request fails with an
 * I/O error and the driver stops writing to the image, so nothing makes the
 * damage worse; reads of intact parts go on working.
 */
export class Qcow2Corrupt extends Error {
  readonly code = 'EIO';
  constructor(message: string) {
    super(`qcow2 image is corrupt: ${message}`);
    this.name = 'Qcow2Corrupt';
  }
}
