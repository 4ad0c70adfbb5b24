/* Loading hiredis on demand. See hiredis_api.h. */
#if __has_include(<hiredis/hiredis.h>)
#include "queue/hiredis_api.h"

#include <dlfcn.h>
#include <stddef.h>

static pn_hiredis_api api;
static int loaded;
static const char *load_error;

#define RESOLVE(field, name)                                                                   \
  do {                                                                                         \
    *(void **)&api.field = dlsym(library, name);                                               \
    if (!api.field) {                                                                          \
      load_error = "libhiredis.so.0.14 lacks " name " (install Debian's libhiredis0.14)";      \
      return;                                                                                  \
    }                                                                                          \
  } while (0)

static void load(void) {
  void *library = dlopen("libhiredis.so.0.14", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    load_error = "libhiredis.so.0.14 could not be loaded: a redis:// queue needs Redis's client "
                 "library (apt-get install libhiredis0.14)";
    return;
  }
  RESOLVE(connect_with_timeout, "redisConnectWithTimeout");
  RESOLVE(set_timeout, "redisSetTimeout");
  RESOLVE(enable_keep_alive, "redisEnableKeepAlive");
  RESOLVE(free, "redisFree");
  RESOLVE(command_argv, "redisCommandArgv");
  RESOLVE(append_command_argv, "redisAppendCommandArgv");
  RESOLVE(buffer_write, "redisBufferWrite");
  RESOLVE(buffer_read, "redisBufferRead");
  RESOLVE(get_reply_from_reader, "redisGetReplyFromReader");
  RESOLVE(get_reply, "redisGetReply");
  RESOLVE(free_reply, "freeReplyObject");
}

const pn_hiredis_api *pn_hiredis(const char **error) {
  if (!loaded) {
    loaded = 1;
    load();
  }
  if (error)
    *error = load_error;
  return load_error ? NULL : &api;
}
#endif
