/* libFuzzer target for the queue's redis:// URL parser (queue/queue.c), which reads the
 * hub's --queue flag. Input: the URL text.
 *
 * Invariants: a URL that parses names a non-empty host, a port from 1 to 65535 and a
 * database from 0; every field is NUL-terminated within its buffer; a refusal says why. */
#include "core/alloc.h"
#include "queue/queue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = pn_strndup((const char *)data, size); /* a command-line word holds no NUL */
  if (!text)
    return 0;
  pn_queue_redis_url url;
  const char *error = NULL;
  if (pn_queue_parse_redis_url(text, &url, &error) == 0) {
    if (!url.host[0] || url.port < 1 || url.port > 65535 || url.db < 0 ||
        strnlen(url.host, sizeof url.host) == sizeof url.host ||
        strnlen(url.password, sizeof url.password) == sizeof url.password || error)
      abort();
  } else if (!error || !*error) {
    abort();
  }
  pn_free(text);
  return 0;
}
