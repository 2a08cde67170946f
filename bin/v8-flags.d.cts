/** bin/v8-flags.cjs */
export declare const V8_FLAGS: readonly string[];
export declare const START_V8_FLAGS: readonly string[];
export declare const V8_DEFAULTS: readonly string[];
export declare function applyV8Flags(): void;
export declare function resetV8Flags(): void;
