/** The platform's host services in a browser bundle (replaces default.ts). */
export { browserHost as defaultHost } from './browser.js';
