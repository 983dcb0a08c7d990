// The one native piece of prom-multiproc: map a metrics file shared read-write, and
// unmap a mapping when its file has grown past it. Plain C on Node-API, so one binary
// serves every Node version (Node-API is ABI-stable); nothing else is done natively.
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
#define NAPI_VERSION 7
#include <node_api.h>
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"map", NULL, map_file, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unmap", NULL, unmap_file, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
