/* The queue's engine-neutral part: picking the engine from the URL, the redis:// URL's
 * parser, and forwarding each call to the engine. See queue.h. */
#include "queue/engine.h"

#include "core/alloc.h"
#include "core/env.h"
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int copy_part(char *out, size_t size, const char *from, size_t length) {
  if (length >= size)
    return PN_EINVAL;
  memcpy(out, from, length);
  out[length] = '\0';
  return 0;
}

/* A decimal number in [min, max] spanning exactly `length` characters; -1 otherwise. */
static long parse_number(const char *text, size_t length, long min, long max) {
  if (length == 0 || length > 9)
    return -1;
  long value = 0;
  for (size_t i = 0; i < length; i++) {
    if (text[i] < '0' || text[i] > '9')
      return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value < min || value > max ? -1 : value;
}

int pn_queue_parse_redis_url(const char *url, pn_queue_redis_url *out, const char **error) {
  static const char scheme[] = "redis://";
  memset(out, 0, sizeof *out);
  out->port = 6379;
  *error = NULL;
  if (!url || strncasecmp(url, scheme, sizeof scheme - 1) != 0) {
    *error = "it does not start with redis://";
    return PN_EINVAL;
  }
  const char *at = url + sizeof scheme - 1;
  const char *end = at + strcspn(at, "/?#");
  if (strpbrk(at, "?#")) {
    *error = "it has a query or fragment, which pinion does not read";
    return PN_EINVAL;
  }
  /* The password is whatever follows the last ':' before the last '@' of the authority. */
  const char *userinfo_end = NULL;
  for (const char *c = at; c < end; c++)
    if (*c == '@')
      userinfo_end = c;
  if (userinfo_end) {
    const char *colon = memchr(at, ':', (size_t)(userinfo_end - at));
    if (!colon) {
      *error = "its user part has no ':PASSWORD' (redis://:PASSWORD@HOST)";
      return PN_EINVAL;
    }
    if (copy_part(out->password, sizeof out->password, colon + 1,
                  (size_t)(userinfo_end - colon - 1)) < 0) {
      *error = "its password is longer than 255 bytes";
      return PN_EINVAL;
    }
    at = userinfo_end + 1;
  }
  const char *host_end = NULL, *port_at = NULL;
  if (*at == '[') {
    const char *close = memchr(at, ']', (size_t)(end - at));
    if (!close) {
      *error = "its [IPv6] host has no closing ']'";
      return PN_EINVAL;
    }
    if (copy_part(out->host, sizeof out->host, at + 1, (size_t)(close - at - 1)) < 0) {
      *error = "its host is longer than 255 bytes";
      return PN_EINVAL;
    }
    host_end = close + 1;
    if (host_end < end && *host_end != ':') {
      *error = "something other than :PORT follows its [IPv6] host";
      return PN_EINVAL;
    }
    port_at = host_end < end ? host_end + 1 : NULL;
  } else {
    const char *colon = memchr(at, ':', (size_t)(end - at));
    host_end = colon ? colon : end;
    if (copy_part(out->host, sizeof out->host, at, (size_t)(host_end - at)) < 0) {
      *error = "its host is longer than 255 bytes";
      return PN_EINVAL;
    }
    port_at = colon ? colon + 1 : NULL;
  }
  if (!out->host[0]) {
    *error = "it names no host";
    return PN_EINVAL;
  }
  if (port_at) {
    long port = parse_number(port_at, (size_t)(end - port_at), 1, 65535);
    if (port < 0) {
      *error = "its port is not a number from 1 to 65535";
      return PN_EINVAL;
    }
    out->port = (int)port;
  }
  if (*end == '/' && end[1]) {
    long db = parse_number(end + 1, strlen(end + 1), 0, 999999);
    if (db < 0) {
      *error = "its database (the path) is not a number";
      return PN_EINVAL;
    }
    out->db = (int)db;
  }
  return 0;
}

char *pn_queue_exhausted_error(long deliveries) {
  return pn_strfmt("the prediction was given to a model %ld times and each stopped without "
                   "finishing it (its runner was killed, ran out of memory, or lost the "
                   "queue for longer than the lease); it is not tried again "
                   "(PINION_QUEUE_MAX_DELIVERIES)",
                   deliveries - 1);
}

int pn_queue_open(struct event_base *base, const pn_queue_options *options,
                  const pn_queue_consumer *consumer, pn_queue **queue, char **error) {
  *queue = NULL;
  *error = NULL;
  if (!consumer || !consumer->settled || (!options->push_only && (!consumer->take || !consumer->lost)))
    return PN_EINVAL;
  int rc;
  if (!options->url || !*options->url) {
    if (options->stream) {
      *error = pn_strfmt("the embedded queue is one process's: a director that takes one "
                         "target's predictions needs --queue redis://HOST[:PORT][/DB], "
                         "shared with the hub");
      return PN_EINVAL;
    }
    if (!base) {
      *error = pn_strfmt("the embedded queue needs the caller's event loop");
      return PN_EINVAL;
    }
    rc = pn_queue_embedded_open(base, options->beside, !options->push_only, queue);
    if (rc == PN_EINVAL)
      *error = pn_strfmt("a queue opened beside another shares its engine: the other one is "
                         "not embedded");
  } else {
    pn_queue_redis_url url;
    const char *problem = NULL;
    double lease = options->lease > 0 ? options->lease : PN_QUEUE_LEASE_DEFAULT;
    if (lease < PN_QUEUE_LEASE_MIN || lease > PN_QUEUE_LEASE_MAX) {
      *error = pn_strfmt("the queue's lease must be from %.1f to %.0f seconds, not %g",
                         PN_QUEUE_LEASE_MIN, PN_QUEUE_LEASE_MAX, lease);
      return PN_EINVAL;
    }
    if (pn_queue_parse_redis_url(options->url, &url, &problem) < 0) {
      *error = pn_strfmt("--queue takes redis://[:PASSWORD@]HOST[:PORT][/DB], but the URL "
                         "given is not one: %s",
                         problem);
      return PN_EINVAL;
    }
    const char *password = getenv("PINION_QUEUE_PASSWORD");
    if (!url.password[0] && password && strlen(password) < sizeof url.password)
      strcpy(url.password, password);
    pn_queue_options resolved = *options;
    if (resolved.max_deliveries <= 0)
      resolved.max_deliveries = (int)pn_env_number(
          "PINION_QUEUE_MAX_DELIVERIES", "takes of one prediction", 1,
          PN_QUEUE_MAX_DELIVERIES_MAX, PN_QUEUE_MAX_DELIVERIES_DEFAULT);
    else if (resolved.max_deliveries > PN_QUEUE_MAX_DELIVERIES_MAX)
      resolved.max_deliveries = PN_QUEUE_MAX_DELIVERIES_MAX;
    rc = pn_queue_redis_open(base, &url, &resolved, lease, queue, error);
    if (rc == 0)
      (*queue)->lease = lease;
  }
  if (rc == 0)
    (*queue)->consumer = *consumer;
  else if (!*error)
    *error = pn_strfmt("%s", pn_strerror(rc));
  return rc;
}

void pn_queue_free(pn_queue *queue) {
  if (queue)
    queue->engine->free(queue);
}

const char *pn_queue_engine_name(const pn_queue *queue) { return queue->engine->name; }

int pn_queue_is_shared(const pn_queue *queue) { return queue->engine->shared; }

int pn_queue_claim(pn_queue *queue, const char *name) {
  if (!name || !*name)
    return PN_EINVAL;
  return queue->engine->claim ? queue->engine->claim(queue, name) : 1;
}

int pn_queue_claim_each(pn_queue *queue, const char *const *names, size_t count, int *got) {
  if (count == 0)
    return 0;
  if (queue->engine->claim_each)
    return queue->engine->claim_each(queue, names, count, got);
  for (size_t i = 0; i < count; i++)
    got[i] = 1;
  return 0;
}

int pn_queue_renew_claims(pn_queue *queue, const char *const *names, size_t count, int *kept) {
  if (count == 0)
    return 0;
  if (queue->engine->renew_claims)
    return queue->engine->renew_claims(queue, names, count, kept);
  for (size_t i = 0; i < count; i++)
    kept[i] = 1;
  return 0;
}

void pn_queue_drop_claim(pn_queue *queue, const char *name) {
  if (name && *name && queue->engine->drop_claim)
    queue->engine->drop_claim(queue, name);
}

double pn_queue_claim_seconds(const pn_queue *queue) {
  if (queue->lease <= 0)
    return 0;
  return queue->lease * 3 > CLAIM_MIN_SECONDS ? queue->lease * 3 : CLAIM_MIN_SECONDS;
}

int pn_queue_push(pn_queue *queue, const char *key, const char *id, int capacity,
                  const json_t *body) {
  if (!key || !*key || !id || !*id || !json_is_object(body))
    return PN_EINVAL;
  return queue->engine->push(queue, key, id, capacity < 1 ? 1 : capacity, body);
}

int pn_queue_done(pn_queue *queue, const char *id) { return queue->engine->done(queue, id); }

void pn_queue_progress(pn_queue *queue, const char *id) {
  if (queue->engine->progress && id && *id)
    queue->engine->progress(queue, id);
}

int pn_queue_find_absent(pn_queue *queue, const char *key, const char *const *ids, size_t count,
                         int *absent) {
  if (!key || !*key)
    return PN_EINVAL;
  if (!queue->engine->find_absent)
    return PN_EUNSUPPORTED;
  return count ? queue->engine->find_absent(queue, key, ids, count, absent) : 0;
}

int pn_queue_push_absent(pn_queue *queue, const char *key, const char *id, int capacity,
                         const json_t *body) {
  if (!key || !*key || !id || !*id || !json_is_object(body))
    return PN_EINVAL;
  if (!queue->engine->push_absent)
    return PN_EUNSUPPORTED;
  return queue->engine->push_absent(queue, key, id, capacity < 1 ? 1 : capacity, body);
}

int pn_queue_count(pn_queue *queue, const char *name, long window_ms, long *count,
                   long *reset_ms) {
  if (!name || !*name || window_ms <= 0)
    return PN_EINVAL;
  if (!queue->engine->count)
    return PN_EUNSUPPORTED;
  return queue->engine->count(queue, name, window_ms, count, reset_ms);
}

int pn_queue_drop_waiting(pn_queue *queue, const char *key, const char *id) {
  if (!key || !*key || !id || !*id)
    return PN_EINVAL;
  if (!queue->engine->drop_waiting)
    return PN_EUNSUPPORTED;
  return queue->engine->drop_waiting(queue, key, id);
}

int pn_queue_holds(const pn_queue *queue, const char *id) {
  return queue->engine->holds(queue, id);
}

void pn_queue_stop_taking(pn_queue *queue) { queue->engine->stop_taking(queue); }

int pn_queue_release(pn_queue *queue, const char *id) { return queue->engine->release(queue, id); }

/* Copies the part of `text` up to the next space (the rest with `last`) into `out`;
 * returns where the next part begins, or NULL when empty, too long or holding a control
 * byte. */
static const char *lease_part(const char *text, char *out, size_t size, int last) {
  size_t length = last ? strlen(text) : strcspn(text, " ");
  if (length == 0 || length >= size || (!last && text[length] != ' '))
    return NULL;
  for (size_t i = 0; i < length; i++)
    if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
      return NULL;
  memcpy(out, text, length);
  out[length] = '\0';
  return text + length + (last ? 0 : 1);
}

int pn_queue_parse_lease(const char *lease, pn_queue_lease_parts *out) {
  memset(out, 0, sizeof *out);
  const char *at = lease ? lease_part(lease, out->consumer, sizeof out->consumer, 0) : NULL;
  if (at)
    at = lease_part(at, out->entry, sizeof out->entry, 0);
  if (at)
    at = lease_part(at, out->key, sizeof out->key, 1);
  return at ? 0 : PN_EINVAL;
}

char *pn_queue_lease(const pn_queue *queue, const char *id) {
  return queue->engine->lease ? queue->engine->lease(queue, id) : NULL;
}

int pn_queue_check_lease(pn_queue *queue, const char *id, const char *lease) {
  if (!queue->engine->check_lease)
    return PN_EUNSUPPORTED;
  if (!id || !lease)
    return PN_EINVAL;
  return queue->engine->check_lease(queue, id, lease);
}

void pn_queue_forget(pn_queue *queue, const char *id) {
  if (queue->engine->forget)
    queue->engine->forget(queue, id);
}

int pn_queue_depths(pn_queue *queue, const char *const *keys, size_t key_count, size_t max,
                    pn_queue_depth **depths, size_t *count) {
  *depths = NULL;
  *count = 0;
  if (!queue->engine->depths)
    return PN_EUNSUPPORTED;
  return queue->engine->depths(queue, keys, key_count, max, depths, count);
}

void pn_queue_depths_free(pn_queue_depth *depths, size_t count) {
  for (size_t i = 0; depths && i < count; i++)
    pn_free(depths[i].key);
  pn_free(depths);
}
