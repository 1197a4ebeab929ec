/*
 * trace.dat's per-event work, compiled to WebAssembly (scripts/build-wasm.mjs): decoding ftrace
 * ring-buffer pages, merging the CPUs' pages in time order, and packing the events into batches
 * with their repeated payloads interned; and zstd's decompressor (wasm/zstd/) decompresses the
 * chunks straight into the windows. It is the loop that runs once per event, so it is here rather
 * than in JavaScript: WebAssembly runs compiled code from its first event, while the same loop in
 * JavaScript ran its first ~50 k events in V8's interpreter and baseline tiers, which cost more
 * than the whole rest of the loop (see docs/performance.md).
 *
 * Everything else stays in TypeScript (reader.ts, packCore.ts): reading and decompressing the
 * file, the metadata and formats, damage messages, the record texts. The layout numbers (page
 * header, event header, where common_pid is) come from the file's own descriptions, passed in.
 *
 * Freestanding: no libc. Memory is a bump allocator; a buffer that grows is allocated anew and
 * the old one dropped, so memory is bounded by twice the largest size of each buffer.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int i32;

#define ZSTD_STATIC_LINKING_ONLY
#include "zstd/zstd.h"

#define EXPORT(name) __attribute__((export_name(#name)))

extern u8 __heap_base;
static u32 top, limit;

static void *alloc(u32 n) {
  if (!top) {
    top = (u32)&__heap_base;
    limit = (u32)__builtin_wasm_memory_size(0) << 16;
  }
  top = (top + 15) & ~15u;
  u32 at = top;
  if (n > limit - at) {
    u32 pages = (n - (limit - at) + 65535) >> 16;
    if (__builtin_wasm_memory_grow(0, pages) == (__SIZE_TYPE__)-1) return 0;
    limit += pages << 16;
  }
  top = at + n;
  return (void *)at;
}

static void copy(u8 *to, const u8 *from, u32 n) { __builtin_memcpy(to, from, n); }

/* ---- the C library zstd needs (freestanding: no libc), over the bump allocator ---- */

typedef __SIZE_TYPE__ size_t;
void *malloc(size_t n) { return alloc((u32)n); }
void *calloc(size_t n, size_t size) {
  u8 *p = alloc((u32)(n * size));
  if (p) __builtin_memset(p, 0, n * size);
  return p;
}
void free(void *p) { (void)p; } /* zstd allocates its context once per instance */
void *memcpy(void *to, const void *from, size_t n) { return __builtin_memcpy(to, from, n); }
void *memmove(void *to, const void *from, size_t n) { return __builtin_memmove(to, from, n); }
void *memset(void *at, int value, size_t n) { return __builtin_memset(at, value, n); }
int memcmp(const void *a, const void *b, size_t n) {
  const u8 *x = a, *y = b;
  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i]) return x[i] - y[i];
  return 0;
}

/* ---- the file's byte order and ring-buffer layout ---- */

static int le;
static u32 ts_at, commit_at, commit_size, data_at;
static u32 type_bits, delta_bits, data_max, t_extend, t_stamp, t_padding;
static u32 type_mask, delta_mask, type_shift;
static double two_delta;

static u32 rd32(const u8 *p) {
  u32 v;
  __builtin_memcpy(&v, p, 4);
  return le ? v : __builtin_bswap32(v);
}
static u32 rd16(const u8 *p) {
  u16 v;
  __builtin_memcpy(&v, p, 2);
  return le ? v : __builtin_bswap16(v);
}
/* As the TypeScript reader reads a u64: the two halves as doubles, so times agree to the bit. */
static double rd64(const u8 *p) {
  double lo = rd32(p), hi = rd32(p + 4);
  return le ? hi * 4294967296.0 + lo : lo * 4294967296.0 + hi;
}

/* ---- streams: one per CPU, its window (file bytes or a decompressed chunk) and decoded page ---- */

typedef struct {
  u8 *win[2]; /* two windows, used in turn: an event handed out stays readable past the next load */
  u32 cap[2];
  u32 cur;
  double *ts;
  u32 *off; /* from the window's start */
  u32 *len;
  u32 count, head;
  double last_ts;
  i32 has_last;
} Stream;

static Stream *streams;
static u32 nstreams;

/* Where a damaged page is, what it claims (decode's errors), and what a page says was lost. */
static u32 err_at, err_value;
static double page_lost;

EXPORT(init)
i32 init(u32 cpus, u32 page_size, i32 little) {
  le = little;
  nstreams = cpus;
  streams = alloc(cpus * sizeof(Stream));
  if (!streams) return -1;
  u32 cap = page_size / 4 + 1; /* an event is at least 8 bytes: this bounds a page's events */
  for (u32 i = 0; i < cpus; i++) {
    Stream *s = &streams[i];
    __builtin_memset(s, 0, sizeof(Stream));
    s->ts = alloc(cap * 8);
    s->off = alloc(cap * 4);
    s->len = alloc(cap * 4);
    if (!s->ts || !s->off || !s->len) return -1;
  }
  return 0;
}

EXPORT(layout)
void layout(u32 ts_off, u32 commit_off, u32 commit_sz, u32 data_off, u32 tl_bits, u32 d_bits, u32 dmax, u32 extend, u32 stamp, u32 padding) {
  ts_at = ts_off;
  commit_at = commit_off;
  commit_size = commit_sz;
  data_at = data_off;
  type_bits = tl_bits;
  delta_bits = d_bits;
  data_max = dmax;
  t_extend = extend;
  t_stamp = stamp;
  t_padding = padding;
  /* on a little-endian kernel type_len is the word's low bits, on big-endian its high bits */
  type_mask = (1u << tl_bits) - 1;
  delta_mask = d_bits >= 32 ? 0xffffffffu : (1u << d_bits) - 1;
  type_shift = le ? 0 : d_bits;
  two_delta = 1;
  for (u32 i = 0; i < d_bits; i++) two_delta *= 2;
}

/* A window of `size` bytes for `cpu`'s next load (the one not in use): JS writes the bytes there. */
EXPORT(window)
u8 *window(u32 cpu, u32 size) {
  Stream *s = &streams[cpu];
  u32 w = s->cur ^ 1;
  if (s->cap[w] < size) {
    u32 cap = s->cap[w] * 2 > size ? s->cap[w] * 2 : size;
    s->win[w] = alloc(cap);
    if (!s->win[w]) return 0;
    s->cap[w] = cap;
  }
  s->cur = w;
  return s->win[w];
}

/* ---- zstd: a compressed chunk straight into a window, or a section into the output ---- */

static ZSTD_DCtx *dctx;
static u8 *zin, *zout;
static u32 zin_cap, zout_cap;

/* Room for `size` compressed bytes: JS writes them there, then calls unzstd_window or unzstd. */
EXPORT(zstd_input)
u8 *zstd_input(u32 size) {
  if (zin_cap < size) {
    zin = alloc(size);
    zin_cap = zin ? size : 0;
  }
  return zin;
}

/* Decompress the `zsize` input bytes into `size` bytes at `to`: the size made, or -1 - zstd's error code. */
static i32 unzstd_to(u8 *to, u32 size, u32 zsize) {
  if (!to) return -1 - ZSTD_error_memory_allocation;
  if (!dctx && !(dctx = ZSTD_createDCtx())) return -1 - ZSTD_error_memory_allocation;
  size_t n = ZSTD_decompressDCtx(dctx, to, size, zin, zsize);
  return ZSTD_isError(n) ? -1 - (i32)ZSTD_getErrorCode(n) : (i32)n;
}

/* A chunk of `size` bytes into `cpu`'s next window (see window()). */
EXPORT(unzstd_window)
i32 unzstd_window(u32 cpu, u32 zsize, u32 size) { return unzstd_to(window(cpu, size), size, zsize); }

/* Into the output (zstd_output()), for what is not a window: a section of the metadata. */
EXPORT(unzstd)
i32 unzstd(u32 zsize, u32 size) {
  if (zout_cap < size) {
    zout = alloc(size);
    zout_cap = zout ? size : 0;
  }
  return unzstd_to(zout, size, zsize);
}
EXPORT(zstd_output) u8 *zstd_output(void) { return zout; }

/* zstd's words for its error code (a NUL-terminated string in the memory). */
EXPORT(zstd_error) const char *zstd_error(i32 code) { return ZSTD_getErrorString((ZSTD_ErrorCode)code); }

#define COMMIT_MASK ((1u << 27) - 1)
#define MISSED_EVENTS 0x80000000u
#define MISSED_STORED 0x40000000u

/* What decode() found wrong with a page (err_at: the byte of the page where; err_value: the claim). */
enum { PAGE_USED = -1, LONG_CUT = -2, LONG_CLAIMS = -3, RUNS_PAST = -4, EXTEND_CUT = -5, STAMP_CUT = -6, UNKNOWN_TYPE = -7 };

static i32 fail(Stream *s, i32 code, u32 at, u32 value) {
  err_at = at;
  err_value = value;
  s->count = 0;
  s->head = 0;
  return code;
}

/*
 * One ftrace ring-buffer page (a "sub-buffer"), as trace.dat stores it and trace_pipe_raw hands
 * it out: a page header (timestamp, commit = bytes used plus flags) and then event headers of 32
 * bits (type_len, time_delta) with their payloads. Time moves by the deltas; a time-extend
 * carries the high bits of a long delta, a time-stamp an absolute time; padding fills discarded
 * events and the page's unused tail. The layout numbers come from header_page / header_event.
 *
 * Decode the page at byte `start` of `cpu`'s current window, `size` bytes, into its events; the
 * stream's next event is then the page's first. Returns the number of events, or an error code
 * (the page contradicts itself: a damaged file).
 */
EXPORT(decode)
i32 decode(u32 cpu, u32 start, u32 size) {
  Stream *s = &streams[cpu];
  const u8 *page = s->win[s->cur] + start;
  double ts = rd64(page + ts_at);
  u32 flags = commit_size == 8 && !le ? rd32(page + commit_at + 4) : rd32(page + commit_at);
  u32 used = flags & COMMIT_MASK;
  u32 end = data_at + used; /* from the page's start */
  page_lost = 0;
  if (flags & MISSED_EVENTS) {
    page_lost = -1;
    if (flags & MISSED_STORED && end + commit_size <= size) page_lost = commit_size == 8 ? rd64(page + end) : rd32(page + end);
  }
  if (data_at + used > size) return fail(s, PAGE_USED, 0, used);
  u32 at = data_at, n = 0;
  while (at + 4 <= end) {
    u32 word = rd32(page + at);
    u32 type = (word >> type_shift) & type_mask;
    u32 delta = le ? word >> type_bits : word & delta_mask;
    at += 4;
    if (type == 0) {
      /* a long event: its length (this length word included) in array[0] */
      if (at + 4 > end) return fail(s, LONG_CUT, at - 4, 0);
      u32 len = rd32(page + at);
      if (len < 4 || len > end + 3 - at) return fail(s, LONG_CLAIMS, at - 4, len);
      ts += delta;
      s->ts[n] = ts;
      s->off[n] = start + at + 4;
      s->len[n] = len - 4;
      n++;
      at += (len + 3) & ~3u;
    } else if (type <= data_max) {
      u32 len = type * 4;
      if (at + len > end) return fail(s, RUNS_PAST, at - 4, 0);
      ts += delta;
      s->ts[n] = ts;
      s->off[n] = start + at;
      s->len[n] = len;
      n++;
      at += len;
    } else if (type == t_extend) {
      if (at + 4 > end) return fail(s, EXTEND_CUT, at - 4, 0);
      ts += (double)rd32(page + at) * two_delta + delta;
      at += 4;
    } else if (type == t_stamp) {
      if (at + 4 > end) return fail(s, STAMP_CUT, at - 4, 0);
      /* absolute: the low 59 bits; the top bits stay those of the page's clock */
      double abs = (double)rd32(page + at) * two_delta + delta;
      const double two59 = 576460752303423488.0;
      ts = __builtin_floor(ts / two59) * two59 + abs;
      at += 4;
    } else if (type == t_padding) {
      /* delta 0: the rest of the page is unused; else a discarded event of array[0] bytes */
      if (delta == 0 || at + 4 > end) break;
      u32 len = rd32(page + at);
      ts += delta;
      if (len < 4 || len > end + 3 - at) break;
      at += len;
    } else {
      return fail(s, UNKNOWN_TYPE, at - 4, type);
    }
  }
  s->count = n;
  s->head = 0;
  return (i32)n;
}

EXPORT(err_at_) u32 err_at_(void) { return err_at; }
EXPORT(err_value_) u32 err_value_(void) { return err_value; }
EXPORT(page_lost_) double page_lost_(void) { return page_lost; }

/* ---- a stream's place, read and set by the reader ---- */

EXPORT(head) u32 head(u32 cpu) { return streams[cpu].head; }
EXPORT(count) u32 count(u32 cpu) { return streams[cpu].count; }
EXPORT(set_head) void set_head(u32 cpu, u32 h) { streams[cpu].head = h; }
/* The stream's last event time; NaN when none was read. */
EXPORT(last_ts) double last_ts(u32 cpu) { return streams[cpu].has_last ? streams[cpu].last_ts : __builtin_nan(""); }
EXPORT(set_last_ts)
void set_last_ts(u32 cpu, double t, i32 has) {
  streams[cpu].last_ts = t;
  streams[cpu].has_last = has;
}
/* The stream's data is over (or damaged): no event is left in its page. */
EXPORT(finish) void finish(u32 cpu) { streams[cpu].count = streams[cpu].head = 0; }

/* ---- the merge: the next event in time order ---- */

/* The stream with the earliest next event, or -1. */
static i32 earliest(double *at) {
  i32 best = -1;
  double bt = __builtin_inf();
  for (u32 i = 0; i < nstreams; i++) {
    Stream *s = &streams[i];
    if (s->head >= s->count) continue;
    double t = s->ts[s->head];
    if (t < bt) {
      bt = t;
      best = (i32)i;
    }
  }
  *at = bt;
  return best;
}

/* Set when the stream handed out its page's last event: the reader must decode its next page. */
#define NEED_PAGE 0x40000000
/* Set when an event's id has no packing plan yet: set_plan() it and call pack() again. */
#define NEED_PLAN 0x20000000

static u32 at_ptr, at_len;
static double at_ts;

/* One event (the reader's advance()): its stream, | NEED_PAGE when its page is used up; -1 at the end. */
EXPORT(step)
i32 step(void) {
  double t;
  i32 b = earliest(&t);
  if (b < 0) return -1;
  Stream *s = &streams[b];
  u32 h = s->head;
  at_ptr = (u32)s->win[s->cur] + s->off[h];
  at_len = s->len[h];
  at_ts = t;
  s->last_ts = t;
  s->has_last = 1;
  return ++s->head >= s->count ? b | NEED_PAGE : b;
}
EXPORT(at_ptr_) u32 at_ptr_(void) { return at_ptr; }
EXPORT(at_len_) u32 at_len_(void) { return at_len; }
EXPORT(at_ts_) double at_ts_(void) { return at_ts; }

/* ---- packing: events into batches, repeated payloads interned (see packed.ts) ---- */

/* Per plan (an event id below id_limit; then one for no id, one for an id without format). */
static i32 *pid_at, *key_start, *seen, *misses;
static u32 id_limit;
#define UNSET (-2)

/* Interned payloads: open addressing, at most half full (hash, index + 1); per entry id, length, arena byte. */
static u32 *slots, nslots;
static i32 *entry;
static u32 entry_cap, entries;
static u8 *arena;
static u32 arena_cap, arena_used;
static u32 max_entries, trial, max_arena;

/* The batch being packed (packed.ts's PackedEvents). */
static double *b_ts;
static i32 *b_ints;
static u32 b_cap, b_max, b_n;
static u8 *b_bytes;
static u32 b_bytes_cap, b_pos;
static i32 *b_fresh;
static u32 b_fresh_cap, b_fresh_n, b_fresh_from;

EXPORT(pack_init)
i32 pack_init(u32 ids, i32 common_pid_at, u32 lim_entries, u32 lim_trial, u32 lim_arena) {
  id_limit = ids;
  u32 plans = ids + 2;
  pid_at = alloc(plans * 4);
  key_start = alloc(plans * 4);
  seen = alloc(plans * 4);
  misses = alloc(plans * 4);
  if (!pid_at || !key_start || !seen || !misses) return -1;
  for (u32 i = 0; i < plans; i++) key_start[i] = UNSET, seen[i] = misses[i] = 0;
  /* no id (too short) and an id without a format: the common pid, never interned */
  pid_at[ids] = pid_at[ids + 1] = common_pid_at;
  key_start[ids] = key_start[ids + 1] = -1;
  max_entries = lim_entries;
  trial = lim_trial;
  max_arena = lim_arena;
  nslots = 1024;
  slots = alloc(nslots * 8);
  entry_cap = 512;
  entry = alloc(entry_cap * 12);
  arena_cap = 1 << 16;
  arena = alloc(arena_cap);
  if (!slots || !entry || !arena) return -1;
  __builtin_memset(slots, 0, nslots * 8);
  return 0;
}

EXPORT(set_plan)
void set_plan(u32 id, i32 pid_offset, i32 key) {
  pid_at[id] = pid_offset;
  key_start[id] = key;
}

static void rehash(void) {
  u32 n = nslots * 2;
  u32 *next = alloc(n * 8);
  if (!next) return; /* stays fuller than half: still correct, only slower */
  __builtin_memset(next, 0, n * 8);
  u32 mask = n - 1;
  for (u32 i = 0; i < nslots; i++) {
    if (!slots[2 * i + 1]) continue;
    u32 s = slots[2 * i] & mask;
    while (next[2 * s + 1]) s = (s + 1) & mask;
    next[2 * s] = slots[2 * i];
    next[2 * s + 1] = slots[2 * i + 1];
  }
  slots = next;
  nslots = n;
}

static int same(const u8 *a, const u8 *b, u32 n) {
  u32 i = 0;
  for (; i + 4 <= n; i += 4) {
    u32 x, y;
    __builtin_memcpy(&x, a + i, 4);
    __builtin_memcpy(&y, b + i, 4);
    if (x != y) return 0;
  }
  for (; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

/* The index of the interned payload equal to this one (new when first seen), -1: not interned, -2: out of memory. */
static i32 intern(i32 id, u32 plan, const u8 *p, u32 len) {
  u32 k = (u32)key_start[plan];
  /* FNV-1a over the event's own bytes a 32-bit word at a time, its id and length mixed in */
  u32 h = ((0x811c9dc5u ^ (u32)id) * 0x01000193u) ^ len;
  u32 i = k;
  for (; i + 4 <= len; i += 4) {
    u32 w;
    __builtin_memcpy(&w, p + i, 4);
    h = (h ^ w) * 0x01000193u;
  }
  for (; i < len; i++) h = (h ^ p[i]) * 0x01000193u;
  h ^= h >> 15;
  u32 mask = nslots - 1, s = h & mask;
  for (;;) {
    i32 e = (i32)slots[2 * s + 1] - 1;
    if (e < 0) break;
    i32 *en = &entry[3 * e];
    if (slots[2 * s] == h && en[0] == id && (u32)en[1] == len && same(p + k, arena + en[2] + k, len - k)) {
      seen[plan]++;
      return e;
    }
    s = (s + 1) & mask;
  }
  seen[plan]++;
  misses[plan]++;
  /* its payloads do not repeat: stop interning this event */
  if (2 * misses[plan] > seen[plan] && (u32)seen[plan] >= trial) key_start[plan] = -1;
  if (entries >= max_entries || arena_used + len > max_arena) return -1;
  if (arena_used + len > arena_cap) {
    u32 cap = arena_cap * 2 > arena_used + len ? arena_cap * 2 : arena_used + len;
    u8 *next = alloc(cap);
    if (!next) return -2;
    copy(next, arena, arena_used);
    arena = next;
    arena_cap = cap;
  }
  if (entries == entry_cap) {
    i32 *next = alloc(entry_cap * 2 * 12);
    if (!next) return -2;
    copy((u8 *)next, (u8 *)entry, entry_cap * 12);
    entry = next;
    entry_cap *= 2;
  }
  i32 e = (i32)entries++;
  copy(arena + arena_used, p, len);
  entry[3 * e] = id;
  entry[3 * e + 1] = (i32)len;
  entry[3 * e + 2] = (i32)arena_used;
  arena_used += len;
  slots[2 * s] = h;
  slots[2 * s + 1] = (u32)e + 1;
  if (2 * entries > mask) rehash();
  return e;
}

/* Room for `more` bytes in the batch's bytes; 0 when memory is out. */
static int room(u32 more) {
  if (b_pos + more <= b_bytes_cap) return 1;
  u32 cap = b_bytes_cap * 2 > b_pos + more ? b_bytes_cap * 2 : b_pos + more;
  u8 *next = alloc(cap);
  if (!next) return 0;
  copy(next, b_bytes, b_pos);
  b_bytes = next;
  b_bytes_cap = cap;
  return 1;
}

/* Start a batch of at most `max` events, `typical` bytes each at first. */
EXPORT(batch)
i32 batch(u32 max, u32 typical) {
  if (max > b_cap) {
    b_ts = alloc(max * 8);
    b_ints = alloc(max * 16);
    if (!b_ts || !b_ints) return -1;
    b_cap = max;
  }
  if (b_bytes_cap < max * typical) {
    b_bytes = alloc(max * typical);
    if (!b_bytes) return -1;
    b_bytes_cap = max * typical;
  }
  if (!b_fresh) {
    b_fresh_cap = 64;
    b_fresh = alloc(b_fresh_cap * 8);
    if (!b_fresh) return -1;
  }
  b_max = max;
  b_n = b_pos = b_fresh_n = 0;
  b_fresh_from = entries;
  return 0;
}

#define OUT_OF_MEMORY (-1)
#define BATCH_DONE 0

/*
 * Pack events until the batch is full or none is left (BATCH_DONE; b_n says how many), or until
 * a stream needs its next page (NEED_PAGE | cpu) or an id its plan (NEED_PLAN | id): then call
 * again once the reader has decoded the page or set the plan.
 */
EXPORT(pack)
i32 pack(void) {
  while (b_n < b_max) {
    double t;
    i32 b = earliest(&t);
    if (b < 0) return BATCH_DONE;
    Stream *s = &streams[b];
    u32 h = s->head;
    const u8 *p = s->win[s->cur] + s->off[h];
    u32 len = s->len[h];
    /* common_type is the payload's first u16 in every kernel that has trace.dat v6 */
    i32 id = len >= 2 ? (i32)rd16(p) : -1;
    u32 plan = id < 0 ? id_limit : (u32)id < id_limit ? (u32)id : id_limit + 1;
    if (key_start[plan] == UNSET) return NEED_PLAN | id;
    i32 pid_off = pid_at[plan];
    i32 *o = b_ints + 4 * b_n;
    b_ts[b_n] = t;
    o[0] = pid_off >= 0 && (u32)pid_off + 4 <= len ? (i32)rd32(p + pid_off) : -1;
    o[1] = id;
    o[3] = (i32)len;
    i32 ref = -1;
    i32 key = key_start[plan];
    if (key >= 0 && (u32)key <= len) {
      ref = intern(id, plan, p, len);
      if (ref == -2) return OUT_OF_MEMORY;
      if (ref >= 0 && (u32)ref == b_fresh_from + b_fresh_n) {
        /* first seen now: its bytes go with this batch, once */
        if (b_fresh_n == b_fresh_cap) {
          i32 *next = alloc(b_fresh_cap * 2 * 8);
          if (!next) return OUT_OF_MEMORY;
          copy((u8 *)next, (u8 *)b_fresh, b_fresh_cap * 8);
          b_fresh = next;
          b_fresh_cap *= 2;
        }
        if (!room(len)) return OUT_OF_MEMORY;
        copy(b_bytes + b_pos, p, len);
        b_fresh[2 * b_fresh_n] = (i32)b_pos;
        b_fresh[2 * b_fresh_n + 1] = (i32)len;
        b_fresh_n++;
        b_pos += len;
      }
    }
    if (ref < 0) {
      if (!room(len)) return OUT_OF_MEMORY;
      copy(b_bytes + b_pos, p, len);
      ref = ~(i32)b_pos;
      b_pos += len;
    }
    o[2] = ref;
    b_n++;
    s->last_ts = t;
    s->has_last = 1;
    if (++s->head >= s->count) return b | NEED_PAGE;
  }
  return BATCH_DONE;
}

EXPORT(batch_n) u32 batch_n(void) { return b_n; }
EXPORT(batch_ts) double *batch_ts(void) { return b_ts; }
EXPORT(batch_ints) i32 *batch_ints(void) { return b_ints; }
EXPORT(batch_bytes) u8 *batch_bytes(void) { return b_bytes; }
EXPORT(batch_pos) u32 batch_pos(void) { return b_pos; }
EXPORT(batch_fresh) i32 *batch_fresh(void) { return b_fresh; }
EXPORT(batch_fresh_n) u32 batch_fresh_n(void) { return b_fresh_n; }
EXPORT(batch_fresh_from) u32 batch_fresh_from(void) { return b_fresh_from; }
EXPORT(interned) u32 interned(void) { return entries; }
