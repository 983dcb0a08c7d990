// The one native piece of prom-multiproc: map a metrics file shared read-write (the
// writer), and map one read-only to copy its values out (the collector). Plain C on
// Node-API, so one binary serves every Node version (Node-API is ABI-stable).
//
//   map(fd, length)  -> ArrayBuffer over bytes [0, length) of the file, MAP_SHARED.
//   unmap(buffer)    -> drops the file mapping now and detaches `buffer`, so views of it
//                       read as empty instead of touching memory that is gone.
//
// A mapping that is never unmapped is released when its ArrayBuffer is collected.
// unmap() does not munmap() directly: it maps an inaccessible anonymous range over
// the file mapping (MAP_FIXED replaces it atomically), which releases the file's pages
// but keeps the address range reserved until the collector's finalizer munmap()s it,
// so that finalizer never unmaps an address another mapping has reused since.
//
// The collector's side (read-only, never seen by JavaScript as memory):
//
//   mapRead(fd, length)  -> an opaque handle on bytes [0, length) mapped PROT_READ, MAP_SHARED.
//   unmapRead(handle)    -> munmap()s now (again: nothing); a handle collected unreleased is unmapped then.
//   copyValues(handle, used, valueIndex, count, values, timestamps)
//                        -> copies each entry's value and timestamp (the two float64s at byte
//                           valueIndex[i] * 8) into values[i] and timestamps[i]; returns 0, or
//                           COPY_FAULT when the file was shrunk under the mapping (the copy hit
//                           a page past its end: SIGBUS, caught), or COPY_OUT_OF_RANGE when an
//                           offset is not inside [0, used) of the mapping.
//
// Anyone who can write the metrics directory can truncate a file while we copy from its
// mapping (docs/security.md). A load from a mapped page past the end of the file raises
// SIGBUS, which would kill the collector. So the copy runs under a SIGBUS handler,
// installed once per process, that siglongjmp()s out of a copy of this thread when the
// fault is inside the mapping being copied, and passes every other SIGBUS to the handler
// that was there before (or to the default action). That is why the mapping is never
// given to JavaScript as an ArrayBuffer: a load from JavaScript could not be caught.
//
// The collector's key side (a file's new entries, read into a JavaScript buffer):
//
//   walkKeys(window, from, end, base, used, cells, slots, chunks, guess, out, fields)
//                        -> walks the entries at window[from..end) (the window holds file bytes
//                           from offset `base`), checking every length as the JavaScript walk
//                           does, and looks each key up in the collector's table of known keys
//                           (collect/byte-tables.ts, handed over as its typed arrays), trying
//                           first the key that followed the one before last time. 5 int32s per
//                           entry in `out`: key start in the window, key length, known slot or
//                           -1, and for a new key its hash (hashBytes, so that JavaScript does
//                           not hash it again) and where `fields` holds its fields when it is in
//                           the plain shape of format/key-bytes.ts PlainKeyFields (the label
//                           count, then each field's [start, end) in the window, in
//                           PlainKeyFields' order), else -1. Returns the number of entries;
//                           stops before an entry not whole in the window or not well formed
//                           (the JavaScript walk takes it from there and names the problem),
//                           when `out` is full, and when `fields` has no room for another key's.
//                           With valueIndex (an Int32Array) and first, it also records each
//                           entry's value offset / 8 in valueIndex[first + i], and with values
//                           and timestamps (Float64Arrays, or undefined) its value and timestamp
//                           taken from the window; it stops when any of them is full.
//
// walkKeys reads only JavaScript memory (a read() copy of the file), never a mapping:
// it needs no SIGBUS guard.
#define NAPI_VERSION 7
#include <node_api.h>
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CHECK(call)                                                      \
  do {                                                                   \
    if ((call) != napi_ok) {                                             \
      napi_throw_error(env, NULL, "prom-multiproc mmap: " #call " failed"); \
      return NULL;                                                       \
    }                                                                    \
  } while (0)

static napi_value throw_errno(napi_env env, const char* what, int code) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(code));
  napi_value msg, err, code_value;
  const char* name = code == ENOMEM ? "ENOMEM" : code == EACCES ? "EACCES" : code == EBADF ? "EBADF"
                   : code == EINVAL ? "EINVAL" : code == ENODEV ? "ENODEV" : code == EAGAIN ? "EAGAIN"
                   : "ERR_MMAP";
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &err);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code_value);
  napi_set_named_property(env, err, "code", code_value);
  napi_throw(env, err);
  return NULL;
}

static void release_mapping(napi_env env, void* data, void* hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

static napi_value map_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  int64_t length;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[1], &length) != napi_ok || fd < 0 || length <= 0) {
    napi_throw_type_error(env, NULL, "prom-multiproc mmap: map(fd, length) needs a file descriptor and a positive length");
    return NULL;
  }
  void* data = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) return throw_errno(env, "mmap", errno);
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, data, (size_t)length, release_mapping,
                                       (void*)(uintptr_t)length, &buffer) != napi_ok) {
    munmap(data, (size_t)length);
    napi_throw_error(env, NULL, "prom-multiproc mmap: cannot wrap the mapping in an ArrayBuffer");
    return NULL;
  }
  return buffer;
}

static napi_value unmap_file(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool is_buffer = false;
  if (argc < 1 || napi_is_arraybuffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer) {
    napi_throw_type_error(env, NULL, "prom-multiproc mmap: unmap(buffer) needs an ArrayBuffer from map()");
    return NULL;
  }
  bool detached = false;
  CHECK(napi_is_detached_arraybuffer(env, argv[0], &detached));
  if (detached) return NULL;  // unmapped before
  void* data;
  size_t length;
  CHECK(napi_get_arraybuffer_info(env, argv[0], &data, &length));
  void* reserved = mmap(data, length, PROT_NONE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserved == MAP_FAILED) return throw_errno(env, "mmap (unmap)", errno);
  CHECK(napi_detach_arraybuffer(env, argv[0]));
  return NULL;
}

// ---------------------------------------------------------------- read-only side

enum { COPY_OK = 0, COPY_FAULT = 1, COPY_OUT_OF_RANGE = 2 };

typedef struct {
  const uint8_t* data;  // NULL once unmapped
  size_t length;
} ReadMapping;

static struct sigaction previous_bus;
// 0: not installed, 1: being installed (by another thread), 2: installed. Not pthread_once:
// that is a GLIBC_2.34 symbol, and the prebuilt binary needs only GLIBC_2.2.5 ones.
static int bus_handler_state = 0;
static int bus_handler_error = 0;
// Set only while this thread copies out of a mapping: where to jump, and the range whose
// faults are ours.
static __thread __attribute__((tls_model("initial-exec"))) sigjmp_buf* volatile copy_jump = NULL;
static __thread __attribute__((tls_model("initial-exec"))) const uint8_t* volatile copy_from = NULL;
static __thread __attribute__((tls_model("initial-exec"))) const uint8_t* volatile copy_to = NULL;

static void on_sigbus(int sig, siginfo_t* info, void* context) {
  sigjmp_buf* jump = copy_jump;
  const uint8_t* at = (const uint8_t*)info->si_addr;
  if (jump != NULL && at >= copy_from && at < copy_to) {
    copy_jump = NULL;
    siglongjmp(*jump, 1);
  }
  // Not a fault of our copy: whatever would have happened without us.
  if (previous_bus.sa_flags & SA_SIGINFO) {
    if ((void*)previous_bus.sa_sigaction != (void*)SIG_DFL && (void*)previous_bus.sa_sigaction != (void*)SIG_IGN) {
      previous_bus.sa_sigaction(sig, info, context);
      return;
    }
  } else if (previous_bus.sa_handler != SIG_DFL && previous_bus.sa_handler != SIG_IGN) {
    previous_bus.sa_handler(sig);
    return;
  }
  // The default action (a hardware fault cannot be ignored: it would fault again forever).
  signal(sig, SIG_DFL);
  raise(sig);
}

static void install_bus_handler(void) {
  int expected = 0;
  if (!__atomic_compare_exchange_n(&bus_handler_state, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    while (__atomic_load_n(&bus_handler_state, __ATOMIC_ACQUIRE) != 2) {
      // another thread's sigaction() call, a few microseconds
    }
    return;
  }
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGBUS, &action, &previous_bus) != 0) bus_handler_error = errno;
  __atomic_store_n(&bus_handler_state, 2, __ATOMIC_RELEASE);
}

static void release_read_mapping(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  ReadMapping* mapping = (ReadMapping*)data;
  if (mapping->data != NULL) munmap((void*)mapping->data, mapping->length);
  free(mapping);
}

static napi_value map_read(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  int64_t length;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[1], &length) != napi_ok || fd < 0 || length <= 0) {
    napi_throw_type_error(env, NULL, "prom-multiproc mmap: mapRead(fd, length) needs a file descriptor and a positive length");
    return NULL;
  }
  install_bus_handler();
  if (bus_handler_error != 0) return throw_errno(env, "sigaction (SIGBUS)", bus_handler_error);
  void* data = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) return throw_errno(env, "mmap (read)", errno);
  ReadMapping* mapping = (ReadMapping*)malloc(sizeof *mapping);
  if (mapping == NULL) {
    munmap(data, (size_t)length);
    return throw_errno(env, "malloc", ENOMEM);
  }
  mapping->data = (const uint8_t*)data;
  mapping->length = (size_t)length;
  napi_value handle;
  if (napi_create_external(env, mapping, release_read_mapping, NULL, &handle) != napi_ok) {
    release_read_mapping(env, mapping, NULL);
    napi_throw_error(env, NULL, "prom-multiproc mmap: cannot wrap the read mapping");
    return NULL;
  }
  return handle;
}

static ReadMapping* mapping_of(napi_env env, napi_value value) {
  napi_valuetype type;
  void* data = NULL;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, value, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "prom-multiproc mmap: expected a handle from mapRead()");
    return NULL;
  }
  return (ReadMapping*)data;
}

static napi_value unmap_read(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  ReadMapping* mapping = argc < 1 ? NULL : mapping_of(env, argv[0]);
  if (mapping == NULL) return NULL;
  if (mapping->data != NULL) {
    munmap((void*)mapping->data, mapping->length);
    mapping->data = NULL;
  }
  return NULL;
}

static void* typed_array_of(napi_env env, napi_value value, napi_typedarray_type want, size_t min_length) {
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length;
  void* data = NULL;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) != napi_ok ||
      type != want || length < min_length || (data == NULL && min_length > 0)) {
    return NULL;
  }
  return data;
}

static inline uint64_t little_endian(uint64_t bits) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return __builtin_bswap64(bits);
#else
  return bits;
#endif
}

// Measured at 8 workers x 10,000 series (560,000 entries): 32 ahead copies in ~60% of the
// time of no prefetch; 8 gains little, 64 no more than 32.
#define PREFETCH_AHEAD 32

// The copy itself. Nothing here may allocate, lock or call into Node: it can be left by
// siglongjmp() at any load from the mapping.
static int copy_guarded(const uint8_t* base, size_t limit, const int32_t* index, size_t count,
                        uint64_t* values, uint64_t* timestamps) {
  sigjmp_buf jump;
  copy_from = base;
  copy_to = base + limit;
  if (sigsetjmp(jump, 1) != 0) return COPY_FAULT;  // the handler cleared copy_jump
  copy_jump = &jump;
  __asm__ volatile("" ::: "memory");  // no load from the mapping before this point
  int result = COPY_OK;
  for (size_t i = 0; i < count; i++) {
    int32_t slot = index[i];
    if (slot < 0 || (size_t)slot * 8 + 16 > limit) {
      result = COPY_OUT_OF_RANGE;
      break;
    }
    // Entries are ~100-200 bytes apart, each value on its own cache line: ask for the line
    // of the entry PREFETCH_AHEAD on now, so the loads overlap (a prefetch never faults).
    if (i + PREFETCH_AHEAD < count) {
      int32_t ahead = index[i + PREFETCH_AHEAD];
      if (ahead >= 0 && (size_t)ahead * 8 + 16 <= limit) __builtin_prefetch(base + (size_t)ahead * 8);
    }
    uint64_t value, timestamp;
    memcpy(&value, base + (size_t)slot * 8, 8);
    memcpy(&timestamp, base + (size_t)slot * 8 + 8, 8);
    values[i] = little_endian(value);
    timestamps[i] = little_endian(timestamp);
  }
  __asm__ volatile("" ::: "memory");  // nor after this one
  copy_jump = NULL;
  return result;
}

static napi_value copy_values(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "prom-multiproc mmap: copyValues(handle, used, valueIndex, count, values, timestamps)");
    return NULL;
  }
  ReadMapping* mapping = mapping_of(env, argv[0]);
  if (mapping == NULL) return NULL;
  int64_t used, count;
  if (napi_get_value_int64(env, argv[1], &used) != napi_ok || napi_get_value_int64(env, argv[3], &count) != napi_ok ||
      used < 0 || count < 0) {
    napi_throw_type_error(env, NULL, "prom-multiproc mmap: copyValues needs a used size and a count that are not negative");
    return NULL;
  }
  const int32_t* index = typed_array_of(env, argv[2], napi_int32_array, (size_t)count);
  uint64_t* values = typed_array_of(env, argv[4], napi_float64_array, (size_t)count);
  uint64_t* timestamps = typed_array_of(env, argv[5], napi_float64_array, (size_t)count);
  if ((index == NULL || values == NULL || timestamps == NULL) && count > 0) {
    napi_throw_type_error(env, NULL, "prom-multiproc mmap: copyValues needs an Int32Array and two Float64Arrays of at least `count` elements");
    return NULL;
  }
  int result;
  if (mapping->data == NULL) {
    result = COPY_OUT_OF_RANGE;  // unmapped: nothing is in range
  } else {
    size_t limit = (size_t)used < mapping->length ? (size_t)used : mapping->length;
    result = count == 0 ? COPY_OK : copy_guarded(mapping->data, limit, index, (size_t)count, values, timestamps);
  }
  napi_value out;
  CHECK(napi_create_int32(env, result, &out));
  return out;
}


// ---------------------------------------------------------------- known keys

// The table's layout (collect/byte-tables.ts ByteKeyTable): per cell (hash, slot + 1), 0
// for a free cell; per slot (chunk, start, length, slot of the key that followed it last).
enum { SLOT_CHUNK = 0, SLOT_START = 1, SLOT_LENGTH = 2, SLOT_NEXT = 3 };

typedef struct {
  const int32_t* cells;
  size_t cell_count;  // cells, a power of two
  const int32_t* slots;
  size_t slot_count;
  const uint8_t** chunks;
  const size_t* chunk_lengths;
  size_t chunk_count;
} KnownKeys;

static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

// hashBytes of format/key-bytes.ts, bit for bit: the cells were placed by it.
static uint32_t hash_bytes(const uint8_t* p, size_t length) {
  uint32_t h = 0x9747b28cu ^ (uint32_t)length;
  size_t i = 0;
  for (; i + 4 <= length; i += 4) {
    uint32_t w = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 | (uint32_t)p[i + 3] << 24;
    w *= 0xcc9e2d51u;
    w = rotl32(w, 15);
    h ^= w * 0x1b873593u;
    h = rotl32(h, 13);
    h = h * 5 + 0xe6546b64u;
  }
  uint32_t tail = 0;
  for (int shift = 0; i < length; i++, shift += 8) tail |= (uint32_t)p[i] << shift;
  if (tail != 0) {
    tail *= 0xcc9e2d51u;
    tail = rotl32(tail, 15);
    h ^= tail * 0x1b873593u;
  }
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  return h ^ (h >> 16);
}

// Whether `slot` holds exactly the bytes of `key`; every index of the table checked first.
static bool slot_holds(const KnownKeys* t, int64_t slot, const uint8_t* key, size_t length) {
  if (slot < 0 || (size_t)slot >= t->slot_count) return false;
  const int32_t* s = t->slots + 4 * (size_t)slot;
  if (s[SLOT_LENGTH] < 0 || (size_t)s[SLOT_LENGTH] != length) return false;
  int32_t chunk = s[SLOT_CHUNK], start = s[SLOT_START];
  if (chunk < 0 || (size_t)chunk >= t->chunk_count || start < 0 || (size_t)start > t->chunk_lengths[chunk] ||
      length > t->chunk_lengths[chunk] - (size_t)start) {
    return false;
  }
  return memcmp(t->chunks[chunk] + start, key, length) == 0;
}

static inline int32_t read_int32_le(const uint8_t* p) {
  return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

// A plain JSON string literal at `pos` (printable ASCII, no escape): its contents'
// [start, end) go to at[0], at[1]; returns the index after its closing quote, or -1.
static int64_t plain_string(const uint8_t* w, int64_t pos, int64_t end, int32_t* at) {
  if (pos >= end || w[pos] != 0x22) return -1;
  int64_t from = ++pos;
  for (; pos < end; pos++) {
    uint8_t b = w[pos];
    if (b == 0x22) {
      at[0] = (int32_t)from;
      at[1] = (int32_t)pos;
      return pos + 1;
    }
    if (b == 0x5c || b < 0x20 || b > 0x7e) return -1;
  }
  return -1;
}

static inline bool separator_at(const uint8_t* w, int64_t pos, int64_t end) {
  return pos + 2 <= end && w[pos] == 0x2c && w[pos + 1] == 0x20;
}

// Whether bytes [a, a_end) sort strictly before [b, b_end).
static bool ascending_bytes(const uint8_t* w, int64_t a, int64_t a_end, int64_t b, int64_t b_end) {
  int64_t n = a_end - a < b_end - b ? a_end - a : b_end - b;
  for (int64_t i = 0; i < n; i++) {
    if (w[a + i] != w[b + i]) return w[a + i] < w[b + i];
  }
  return a_end - a < b_end - b;
}

// Labels of a plain key whose fields walkKeys finds; a key with more is left to JavaScript.
#define PLAIN_LABELS 32
#define FIELDS_PER_KEY (1 + 2 * (3 + 2 * PLAIN_LABELS))

// PlainKeyFields.scan of format/key-bytes.ts, step for step: the key in [start, end) of the
// window in the shape ["metric", "sample", {"a": "1", ...}, "help"], every string plain,
// label names strictly ascending. f[0] = label count, f[1 + 2k], f[2 + 2k] = field k (0
// metric, 1 sample, 2 help, then each label's name and value). False for any other key.
static bool plain_fields(const uint8_t* w, int64_t start, int64_t end, int32_t* f) {
  int32_t* at = f + 1;
  if (end - start < 16 || w[start] != 0x5b || w[end - 1] != 0x5d) return false;
  int64_t pos = plain_string(w, start + 1, end, at);
  if (pos < 0 || !separator_at(w, pos, end)) return false;
  pos = plain_string(w, pos + 2, end, at + 2);
  if (pos < 0 || !separator_at(w, pos, end)) return false;
  pos += 2;
  if (pos >= end || w[pos] != 0x7b) return false;
  pos++;
  int32_t n = 0;
  if (pos < end && w[pos] == 0x7d) {
    pos++;
  } else {
    for (;;) {
      if (n == PLAIN_LABELS) return false;
      int32_t* slot = at + 6 + 4 * n;
      pos = plain_string(w, pos, end, slot);
      if (pos < 0 || pos + 2 > end || w[pos] != 0x3a || w[pos + 1] != 0x20) return false;
      if (n > 0 && !ascending_bytes(w, slot[-4], slot[-3], slot[0], slot[1])) return false;
      pos = plain_string(w, pos + 2, end, slot + 2);
      if (pos < 0) return false;
      n++;
      if (pos < end && w[pos] == 0x7d) {
        pos++;
        break;
      }
      if (!separator_at(w, pos, end)) return false;
      pos += 2;
    }
  }
  if (!separator_at(w, pos, end)) return false;
  pos = plain_string(w, pos + 2, end, at + 4);
  if (pos != end - 1) return false;
  f[0] = n;
  return true;
}

#define WALK_OUT 5

// Where walkKeys also records each walked entry's value offset / 8 (`index`) and, on a
// first read, its value and timestamp taken from the window (`values`, `timestamps`, each
// NULL when not wanted); `room`: entries each has room for.
typedef struct {
  int32_t* index;
  uint64_t* values;
  uint64_t* timestamps;
  size_t room;
} WalkValues;

// The walk of format/entries.ts walkEntries, stopping (instead of throwing or breaking)
// wherever it would throw or break, with each key looked up; a new key's hash and, for a
// plain one, its fields: a file of keys not seen yet (the first worker's) is walked, hashed
// and scanned here instead of in JavaScript.
static size_t walk_window(const uint8_t* window, int64_t from, int64_t end, int64_t base, int64_t used,
                          const KnownKeys* t, int32_t previous, int32_t* out, size_t capacity, int32_t* fields, size_t fields_length,
                          const WalkValues* v) {
  size_t count = 0, fields_used = 0;
  int64_t pos = from;
  if (v->index != NULL && v->room < capacity) capacity = v->room;
  while (count < capacity && pos + 4 <= end && fields_length - fields_used >= FIELDS_PER_KEY) {
    int32_t key_length = read_int32_le(window + pos);
    if (key_length < 0) break;
    int64_t value_at = pos + 4 + key_length + (8 - ((int64_t)key_length + 4) % 8);
    if (base + value_at + 16 > used || value_at + 16 > end) break;
    const uint8_t* key = window + pos + 4;
    int32_t slot = -1;
    if (previous >= 0 && (size_t)previous < t->slot_count) {
      int32_t guess = t->slots[4 * (size_t)previous + SLOT_NEXT];
      if (slot_holds(t, guess, key, (size_t)key_length)) slot = guess;
    }
    int32_t hash = 0;
    if (slot < 0) {
      hash = (int32_t)hash_bytes(key, (size_t)key_length);
      size_t mask = t->cell_count - 1;
      size_t cell = (size_t)(uint32_t)hash & mask;
      for (size_t probes = 0; probes < t->cell_count; probes++, cell = (cell + 1) & mask) {
        int32_t found = t->cells[2 * cell + 1] - 1;
        if (found < 0) break;
        if (t->cells[2 * cell] == hash && slot_holds(t, found, key, (size_t)key_length)) {
          slot = found;
          break;
        }
      }
    }
    int32_t* o = out + WALK_OUT * count;
    o[0] = (int32_t)(pos + 4);
    o[1] = key_length;
    o[2] = slot;
    o[3] = slot < 0 ? hash : 0;
    o[4] = -1;
    if (slot < 0 && plain_fields(window, pos + 4, pos + 4 + key_length, fields + fields_used)) {
      o[4] = (int32_t)fields_used;
      fields_used += 1 + 2 * (3 + 2 * (size_t)fields[fields_used]);
    }
    if (v->index != NULL) {
      v->index[count] = (int32_t)((base + value_at) / 8);
      uint64_t bits;
      if (v->values != NULL) {
        memcpy(&bits, window + value_at, 8);
        v->values[count] = little_endian(bits);
      }
      if (v->timestamps != NULL) {
        memcpy(&bits, window + value_at + 8, 8);
        v->timestamps[count] = little_endian(bits);
      }
    }
    count++;
    previous = slot;
    pos = value_at + 16;
  }
  return count;
}

// Elements of an array of `length` from element `first` on.
static inline size_t room_after(size_t length, int64_t first) {
  return (uint64_t)first < length ? length - (size_t)first : 0;
}

// An optional typed array argument: false when it is given (not undefined or null) but is
// not a typed array of type `want`; else its data and length (NULL and 0 when not given).
static bool optional_typed_array(napi_env env, napi_value value, napi_typedarray_type want, void** data, size_t* length) {
  *data = NULL;
  *length = 0;
  napi_valuetype kind;
  if (napi_typeof(env, value, &kind) != napi_ok) return false;
  if (kind == napi_undefined || kind == napi_null) return true;
  bool is_typed = false;
  napi_typedarray_type type;
  return napi_is_typedarray(env, value, &is_typed) == napi_ok && is_typed &&
         napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) == napi_ok && type == want;
}

#define WALK_USAGE "prom-multiproc mmap: walkKeys(window, from, end, base, used, cells, slots, chunks, guess, out, fields[, valueIndex, first, values, timestamps])"

static napi_value walk_keys(napi_env env, napi_callback_info info) {
  size_t argc = 15;
  napi_value argv[15];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t from, end, base, used;
  int32_t previous;
  if (argc < 11u || napi_get_value_int64(env, argv[1], &from) != napi_ok || napi_get_value_int64(env, argv[2], &end) != napi_ok ||
      napi_get_value_int64(env, argv[3], &base) != napi_ok || napi_get_value_int64(env, argv[4], &used) != napi_ok ||
      napi_get_value_int32(env, argv[8], &previous) != napi_ok) {
    napi_throw_type_error(env, NULL, WALK_USAGE);
    return NULL;
  }
  bool is_typed = false;
  napi_typedarray_type type;
  size_t window_length = 0, cells_length = 0, slots_length = 0, out_length = 0;
  void *window = NULL, *cells = NULL, *slots = NULL, *out = NULL;
  if (napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &type, &window_length, &window, NULL, NULL) != napi_ok || type != napi_uint8_array ||
      napi_is_typedarray(env, argv[5], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[5], &type, &cells_length, &cells, NULL, NULL) != napi_ok || type != napi_int32_array ||
      napi_is_typedarray(env, argv[6], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[6], &type, &slots_length, &slots, NULL, NULL) != napi_ok || type != napi_int32_array ||
      napi_is_typedarray(env, argv[9], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[9], &type, &out_length, &out, NULL, NULL) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, NULL, WALK_USAGE ": a Uint8Array window, Int32Array cells, slots and out");
    return NULL;
  }
  size_t fields_length = 0;
  void* fields = NULL;
  if ((napi_is_typedarray(env, argv[10], &is_typed) != napi_ok || !is_typed ||
               napi_get_typedarray_info(env, argv[10], &type, &fields_length, &fields, NULL, NULL) != napi_ok || type != napi_int32_array ||
               fields_length < FIELDS_PER_KEY)) {
    napi_throw_type_error(env, NULL, WALK_USAGE ": fields must be an Int32Array of at least 135 elements");
    return NULL;
  }
  // Optional: where to record the walked entries' value offsets (from entry `first` of
  // valueIndex on) and their values and timestamps (from entry `first` of each).
  WalkValues walk_values = {NULL, NULL, NULL, 0};
  if (argc >= 13) {
    void *index = NULL, *values = NULL, *timestamps = NULL;
    size_t index_length = 0, values_length = 0, timestamps_length = 0;
    int64_t first = 0;
    if (!optional_typed_array(env, argv[11], napi_int32_array, &index, &index_length) ||
        napi_get_value_int64(env, argv[12], &first) != napi_ok || first < 0 ||
        (argc >= 14 && !optional_typed_array(env, argv[13], napi_float64_array, &values, &values_length)) ||
        (argc >= 15 && !optional_typed_array(env, argv[14], napi_float64_array, &timestamps, &timestamps_length))) {
      napi_throw_type_error(env, NULL, WALK_USAGE ": valueIndex an Int32Array, first a count, values and timestamps Float64Arrays (or undefined)");
      return NULL;
    }
    if (index != NULL) {
      size_t room = room_after(index_length, first);
      if (values != NULL && room_after(values_length, first) < room) room = room_after(values_length, first);
      if (timestamps != NULL && room_after(timestamps_length, first) < room) room = room_after(timestamps_length, first);
      if (room == 0) {
        napi_throw_range_error(env, NULL, WALK_USAGE ": no room in valueIndex, values or timestamps after `first`");
        return NULL;
      }
      walk_values.index = (int32_t*)index + first;
      walk_values.values = values != NULL ? (uint64_t*)values + first : NULL;
      walk_values.timestamps = timestamps != NULL ? (uint64_t*)timestamps + first : NULL;
      walk_values.room = room;
    }
  }
  bool is_array = false;
  uint32_t chunk_count = 0;
  if (napi_is_array(env, argv[7], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[7], &chunk_count) != napi_ok) {
    napi_throw_type_error(env, NULL, WALK_USAGE ": chunks must be an array of Uint8Arrays");
    return NULL;
  }
  // The window bounds and the table's sizes, checked before any byte is read.
  if (from < 0 || end < from || (uint64_t)end > window_length || base < 0 || used < base || end > used - base ||
      (cells_length & (cells_length - 1)) != 0 || cells_length % 2 != 0 || slots_length % 4 != 0) {
    napi_throw_range_error(env, NULL, WALK_USAGE ": from/end outside the window or past used, or a table not laid out as ByteKeyTable's");
    return NULL;
  }
  const uint8_t* stack_chunks[64];
  size_t stack_lengths[64];
  const uint8_t** chunks = stack_chunks;
  size_t* chunk_lengths = stack_lengths;
  if (chunk_count > 64) {
    chunks = malloc(chunk_count * sizeof *chunks);
    chunk_lengths = malloc(chunk_count * sizeof *chunk_lengths);
    if (chunks == NULL || chunk_lengths == NULL) {
      free(chunks);
      free(chunk_lengths);
      return throw_errno(env, "malloc", ENOMEM);
    }
  }
  napi_value result = NULL;
  for (uint32_t c = 0; c < chunk_count; c++) {
    napi_value element;
    void* data = NULL;
    size_t length = 0;
    if (napi_get_element(env, argv[7], c, &element) != napi_ok || napi_is_typedarray(env, element, &is_typed) != napi_ok || !is_typed ||
        napi_get_typedarray_info(env, element, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
      napi_throw_type_error(env, NULL, WALK_USAGE ": chunks must be an array of Uint8Arrays");
      goto done;
    }
    chunks[c] = (const uint8_t*)data;
    chunk_lengths[c] = length;
  }
  KnownKeys table = {(const int32_t*)cells, cells_length / 2, (const int32_t*)slots, slots_length / 4, chunks, chunk_lengths, chunk_count};
  size_t count = walk_window((const uint8_t*)window, from, end, base, used, &table, previous, (int32_t*)out, out_length / WALK_OUT, (int32_t*)fields, fields_length, &walk_values);
  if (napi_create_int32(env, (int32_t)count, &result) != napi_ok) result = NULL;
done:
  if (chunks != stack_chunks) {
    free(chunks);
    free(chunk_lengths);
  }
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"map", NULL, map_file, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unmap", NULL, unmap_file, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mapRead", NULL, map_read, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unmapRead", NULL, unmap_read, NULL, NULL, NULL, napi_enumerable, NULL},
      {"copyValues", NULL, copy_values, NULL, NULL, NULL, napi_enumerable, NULL},
      {"walkKeys", NULL, walk_keys, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties));
  // walkKeys records value offsets and values too (JavaScript relies on it: an older binary's walk is not used).
  napi_value records;
  CHECK(napi_get_boolean(env, true, &records));
  CHECK(napi_set_named_property(env, exports, "walkKeysRecordsValues", records));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
