/** bin/v8-flags.mjs */
export declare const V8_FLAGS: readonly string[];
export declare function applyV8Flags(): void;
