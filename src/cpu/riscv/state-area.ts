/**
 * Where a hart keeps the state translated code reads and writes: its integer
 * registers, its data TLBs and a few scratch words, inside a WebAssembly
 * memory. When that memory is also the one holding guest RAM (the machine
 * allocates both together, src/memory/guest-ram.ts), translated code loads
 * and stores guest RAM directly; otherwise every guest access of translated
 * code takes the slow path (correct, slower). The interpreter sees the same
 * words through typed-array views, so both engines share one state.
 *
 *   offset  bytes   what
 *   0       256     x[32]     integer registers, i64 each (little-endian halves)
 *   256     8       pcOut     f64: where translated code left off
 *   264     8       t         a slow-path load's result, i64 (halves tLo, tHi)
 *   272     4       jcEpoch   jump-cache entries of other epochs are stale
 *   276     4       tlbTag    the translation context's bits in the data TLBs' tags (mmu.ts)
 *   280     4       tlbVpnTag the same in xTagLo (and the I/O TLBs' tags)
 *   284     4       lines     nonzero: another thread changed the hart's interrupt lines
 *   288     48      loop      the interpreter loop's fetch page, mode and exit (interp.ts)
 *   4096    16 KiB  rTlb      read TLB: TLB_SIZE records of 16 bytes
 *                   (+0 tag lo, +4 tag hi: one i64 tag; +8 abs; +12 unused)
 *   then    16 KiB  wTlb      write TLB, the same
 *   then    8 KiB   xTagLo, xTagHi
 *   then    8 KiB   xPa       f64: physical page of each instruction-TLB entry
 *   then    12 KiB  xAbs, xKinds, xHits: i32 per instruction-TLB entry, for the interpreter
 *                   loop's page moves (interp-wasm.ts: moveBody)
 *   then    128 KiB jump cache: JC_ENTRIES x 32 bytes
 *                   (+0 pc i64, +8 physical page f64, +16 epoch i32, +20 table index i32,
 *                   +24 the block's length in instructions: the budget it needs)
 *   then    256 KiB   compressed-instruction expansions, i32 per parcel (1: not yet expanded)
 *   then    4 MiB     code-cache page kinds: CODE_PAGES slots x 2,048 bytes (jit/page-code.ts PageCode)
 *   then    8 MiB     hit counters: CODE_PAGES slots x 2,048 u16
 *   then    2 KiB     coded: CODE_PAGES slots x 1 byte, 1 when the slot's page has translated blocks
 *
 * A data TLB's tag is the page's virtual address (page aligned) with the translation
 * context in bits 3..8 of its low word (tlbTag): WebAssembly masks the i64 address to page
 * and alignment bits, ORs tlbTag in and compares with the i64 tag once (a misaligned
 * address keeps a bit below 3 and misses; bits 9..11 of what it compares are always 0).
 * abs is the page's byte address in this memory, or -1 when the page is RAM elsewhere (a
 * ROM, flash, or RAM in another buffer): the JavaScript side serves those through its own
 * views, and their tag carries TAG_NOT_IN_MEMORY (bit 9) so that WebAssembly's compare
 * misses without a test of abs. xTagLo holds the low word of the instruction page's number
 * with the context in bits 20..25 (tlbVpnTag), xTagHi the address's high word.
 */
import type { GuestRamBacking } from '../../memory/guest-ram.js';
import { TLB_SIZE } from './common.js';

export interface HartStateArea {
  /** A shared memory (translated code imports it; workers receive it). */
  readonly memory: WebAssembly.Memory;
  /** Byte offset of the area, a multiple of 8. */
  readonly offset: number;
}

/** Integer register r: the i64 at ST_X + 8r. */
export const ST_X = 0;
export const ST_PC_OUT = 256;
/** A slow-path load's result, one i64 (the engine writes its halves tLo, tHi). */
export const ST_T = 264;
/** Jump-cache epoch (jit/trampoline.ts): bumped whenever any cached block may be stale. */
export const ST_JC_EPOCH = 272;
/**
 * A bit another thread ORs into ST_JC_EPOCH (after setting ST_LINES): every jump-cache entry
 * then misses, so a chain of translated blocks returns to the dispatcher at its next jump,
 * which clears ST_LINES and then this bit, and the entries are current again (no refill).
 * The epoch itself stays below it (the translator wraps it there). The owner's own bumps
 * may drop the bit; then only the chain goes on, and ST_LINES waits for the next dispatch.
 */
export const JC_KICK = 1 << 30;
/** The current translation context as data-TLB tag bits, and as page-number tag bits (mmu.ts setTlbContext). */
export const ST_TLB_TAG = 276;
export const ST_TLB_VPN_TAG = 280;
/**
 * Set (nonzero) by another thread after it changed one of this hart's interrupt lines in
 * shared memory (src/machine/smp/shared-lines.ts); the translator's dispatcher looks at it
 * between blocks and on entering a page, clears it and calls the hart's `onLines`. The
 * thread also sets JC_KICK, so that translated code gets back to the dispatcher.
 */
export const ST_LINES = 284;
/** The interpreter loop's words (interp-wasm.ts, interp.ts). */
export const ST_LOOP_VBASE = 288; // f64: virtual base of its fetch page (NaN: none)
export const ST_LOOP_ABS = 296; // i32: the page's byte address in the memory, -1 when not in it
export const ST_LOOP_REASON = 300; // i32: why it returned
export const ST_LOOP_INSN = 304; // i32: the instruction of an OTHER exit, the parcel of an RVC exit
export const ST_LOOP_ILEN = 308; // i32
export const ST_LOOP_RAW = 312; // i32: the fetched word (the parcel of a compressed instruction)
export const ST_LOOP_MODE = 316; // i32: nonzero: leave at jumps the dispatcher may want
export const ST_LOOP_KINDS = 320; // i32: byte address of the fetch page's kinds (-1: leave at every jump)
export const ST_LOOP_HITS = 324; // i32: byte address of its hit counters
export const ST_LOOP_THRESHOLD = 328; // i32: the count at which an entry is wanted (the region threshold with regions)
export const ST_LOOP_XIDX = 332; // i32: the instruction-TLB entry of the page the loop moved to (-1: none)
/**
 * ST_JC_EPOCH when the dispatcher entered the running chain of blocks: a block's direct tail
 * call into another block of its module (jit/block-emitter.ts: link) goes on only while the epoch
 * still equals it, which is when the trampoline's jump-cache entries would still be current.
 */
export const ST_CHAIN_EPOCH = 336;
/**
 * Set to 1 by the trampoline's `j` when it finds no current jump-cache entry (it returns with
 * the next pc in pcOut); the interpreter loop clears it before it calls a chain of blocks, so
 * that after the call 1 means the chain ended at a jump to code it should interpret, 0 that a
 * block left for another reason (interp-wasm.ts: chainBody), and CHAIN_ACCESS that a region
 * left an access its TLB probe missed to the interpreter (jit/region-templates.ts).
 */
export const ST_LOOP_CHAIN = 340;
/**
 * ST_LOOP_CHAIN's value when a region left at a load or store whose TLB probe missed: the
 * interpreter makes that access and goes on from there, as at a jump to code it interprets.
 * Why: the dispatcher, told nothing, entered the region again where it had left, and a miss
 * at a slot's first instruction then repeated until the slot's count made it hot (jit/engine.ts).
 */
export const CHAIN_ACCESS = 2;
/**
 * The hart's LR reservation (amo.ts; translated LR/SC in jit/block-emitter.ts): its key as an
 * f64, NaN for none — the access's byte address in this memory when the reserved word lies in
 * it (what a translated block's TLB hit computes), else -1 - its physical address (amo.ts:
 * reservationKey) — and the value LR read (an i64; a word's in its low half).
 */
export const ST_RES_KEY = 344;
export const ST_RES_VAL = 352;
/** f64: instructions retired in chains of blocks the interpreter loop called, not yet added to the translator's stats (interp.ts). */
export const ST_CHAIN_STEPS = 360;
/**
 * i32: the hot threshold (the block translator's). An entry is wanted when its count equals
 * ST_LOOP_THRESHOLD's value or reaches this one (the two are the same without regions):
 * an entry the dispatcher does not take at the first (its page's regions all written) runs on
 * in the interpreter until it is hot, rather than leaving for the dispatcher at every count.
 */
export const ST_LOOP_HOT = 368;
/** i32: why threaded code (jit/thread-loop.ts) returned to the interpreter loop (TH_*). */
export const ST_TH_REASON = 372;
/** i32: the address of the threaded block the loop's page move found at its entry (interp-wasm.ts). */
export const ST_TH_IP = 376;
/** Bytes of a data TLB record, and where its abs word is in it (the tag's words at +0 and +4). */
export const TLB_REC = 16;
export const TLB_REC_ABS = 8;
/** In a data TLB tag's low word: the page is not in this memory (abs -1); never in an address's compare. */
export const TAG_NOT_IN_MEMORY = 0x200;
export const ST_R_TLB = 4096;
export const ST_W_TLB = ST_R_TLB + TLB_REC * TLB_SIZE;
export const ST_X_TAG_LO = ST_W_TLB + TLB_REC * TLB_SIZE;
export const ST_X_TAG_HI = ST_X_TAG_LO + 4 * TLB_SIZE;
export const ST_X_PA = ST_X_TAG_HI + 4 * TLB_SIZE;
/**
 * Per instruction-TLB entry, what the interpreter loop needs to move to that page without
 * leaving WebAssembly: the page's byte address in the memory (-1: not in it; mmu.ts fill), and
 * the byte addresses of the translator's kinds and hit counters for it (-1: ask the
 * translator; jit/loop-pages.ts LoopPages.cache).
 */
export const ST_X_ABS = ST_X_PA + 8 * TLB_SIZE;
export const ST_X_KINDS = ST_X_ABS + 4 * TLB_SIZE;
export const ST_X_HITS = ST_X_KINDS + 4 * TLB_SIZE;
/** The jump cache (jit/trampoline.ts): virtual pc -> translated block. */
export const ST_JC = ST_X_HITS + 4 * TLB_SIZE;
export const JC_ENTRIES = 4096;
export const JC_ENTRY_BYTES = 32;
/** The interpreter loop's expansion table of compressed instructions (rvc.ts), one i32 per parcel. */
export const ST_RVC = ST_JC + JC_ENTRIES * JC_ENTRY_BYTES;
/** Pages with code-cache state per hart (jit/engine.ts MAX_PAGES): slots of the two pools below. */
export const CODE_PAGES = 2048;
/** Per code page slot: the kinds of its halfword offsets (u8 each), then their hit counters (u16 each). */
export const ST_KINDS = ST_RVC + 65536 * 4;
export const ST_HITS = ST_KINDS + CODE_PAGES * 2048;
/**
 * Per code page slot, one byte: 1 when the page has translated blocks (the interpreter loop
 * counts every jump into such a page, only loop heads elsewhere: interp-wasm.ts, jumped).
 */
export const ST_CODED = ST_HITS + CODE_PAGES * 4096;
/**
 * Per code page slot, an i32: the jump cache's epoch at which the dispatcher last found the
 * page's translations current (jit/engine.ts). Threaded code made for an older epoch runs on
 * when its page's word holds the current one (jit/thread-loop.ts).
 */
export const ST_PVER = Math.ceil((ST_CODED + CODE_PAGES) / 4) * 4;
/**
 * Threaded code's decoder (jit/thread-code.ts): i32 the record pool's next free record, i32 the
 * threaded threshold (0: no threaded code), then its table (256 i32, by major opcode and
 * funct3), then the log of blocks decoded since the dispatcher last looked: an i32 count of
 * words used, then per block [area slot, first word, end word, the words decoded from...].
 */
export const ST_TH_TOP = ST_PVER + CODE_PAGES * 4;
export const ST_TH_AT = ST_TH_TOP + 4;
export const ST_TH_TABLE = ST_TH_AT + 4;
export const ST_TH_LOG = ST_TH_TABLE + 256 * 4;
/** Words of the log after its count. */
export const TH_LOG_WORDS = 4096;
/** Records of threaded code per hart (jit/thread-code.ts), 16 bytes each; record 0 is never used. */
export const TH_RECORDS = 65536;
export const TH_REC = 16;
export const ST_TREC = Math.ceil((ST_TH_LOG + 4 + TH_LOG_WORDS * 4) / TH_REC) * TH_REC;
/** Bytes of one hart's area. */
export const HART_STATE_BYTES = ST_TREC + TH_RECORDS * TH_REC;
/**
 * Hit counters the harts of one machine share (Hart's sharedHits), by physical page number
 * modulo CODE_PAGES: plain 16-bit words, so an increment two harts make at once may count once
 * (it only delays a translation) and pages sharing a slot only hasten one.
 */
export const SHARED_HITS_BYTES = CODE_PAGES * 4096;

/** WebAssembly pages (64 KiB) holding `bytes`. */
export function wasmPages(bytes: number): number {
  return Math.ceil(bytes / 65536);
}

/**
 * The `n` state areas in the tail of a guest RAM backing allocated with a tail of
 * n * HART_STATE_BYTES; none when the RAM is not in a WebAssembly memory (harts then get
 * private areas and translated code takes its slow path for RAM).
 */
export function stateAreasIn(backing: GuestRamBacking, n: number): HartStateArea[] {
  const areas: HartStateArea[] = [];
  if (backing.memory !== null) {
    for (let i = 0; i < n; i++) areas.push({ memory: backing.memory, offset: backing.tailOffset + i * HART_STATE_BYTES });
  }
  return areas;
}

/**
 * Where the shared hit counters (SHARED_HITS_BYTES) lie in `backing` after its `n` state areas
 * (the tail allocated for both), or undefined where the backing has no wasm memory.
 */
export function sharedHitsIn(backing: GuestRamBacking, n: number): number | undefined {
  return backing.memory !== null ? backing.tailOffset + n * HART_STATE_BYTES : undefined;
}

/** An area of its own for a hart the machine gave none (tests, the warm-up hart): guest RAM is elsewhere. */
export function privateStateArea(): HartStateArea {
  const pages = wasmPages(HART_STATE_BYTES);
  return { memory: new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }), offset: 0 };
}
