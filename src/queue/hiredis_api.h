/* hiredis, loaded when a hub is given a redis:// queue. Most hubs use the embedded queue
 * and never need Redis's client library, so pinion opens libhiredis.so.0.14 (Debian 12's
 * libhiredis0.14) with dlopen on the first connection, as store/pq_api.c does for libpq,
 * and calls it through this table; building needs only hiredis's headers
 * (libhiredis-dev). */
#ifndef PN_QUEUE_HIREDIS_API_H
#define PN_QUEUE_HIREDIS_API_H

#include <hiredis/hiredis.h>

typedef struct pn_hiredis_api {
  redisContext *(*connect_with_timeout)(const char *ip, int port, const struct timeval tv);
  int (*set_timeout)(redisContext *context, const struct timeval tv);
  int (*enable_keep_alive)(redisContext *context);
  void (*free)(redisContext *context);
  void *(*command_argv)(redisContext *context, int argc, const char **argv, const size_t *lengths);
  int (*append_command_argv)(redisContext *context, int argc, const char **argv,
                             const size_t *lengths);
  int (*buffer_write)(redisContext *context, int *done);
  int (*buffer_read)(redisContext *context);
  int (*get_reply_from_reader)(redisContext *context, void **reply);
  int (*get_reply)(redisContext *context, void **reply);
  void (*free_reply)(void *reply);
} pn_hiredis_api;

/* The table, loading hiredis on first call. NULL when it cannot be loaded; *error
 * (static text) then says why and what to install. */
const pn_hiredis_api *pn_hiredis(const char **error);

#endif
