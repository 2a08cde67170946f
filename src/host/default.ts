/** The platform's host services. A browser bundle maps this module to default-browser.ts (package.json "browser"). */
export { nodeHost as defaultHost } from './node.js';
