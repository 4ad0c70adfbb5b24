/* The body of a prediction or training request (spec §4.1, §4.3): the JSON envelope
 * around `input` — id, webhook, webhook_events_filter, context — read and checked
 * apart from the HTTP layer, so that the fuzzer (tests/fuzz/fuzz_request.c) can feed
 * it any bytes. Validating `input` itself is schema/validate.c's work. */
#ifndef PN_SERVE_REQUEST_H
#define PN_SERVE_REQUEST_H

#include <jansson.h>
#include <stddef.h>

typedef struct pn_serve_request {
  json_t *body;        /* the parsed object (new reference) */
  const char *id;      /* from the body, may be NULL */
  json_t *input;       /* borrowed from body; NULL means {} */
  const char *webhook; /* may be NULL */
  unsigned events;     /* PN_WEBHOOK_* mask from webhook_events_filter (all when absent) */
  json_t *context;     /* borrowed from body; an object of strings, or NULL */
} pn_serve_request;

/* Parses `length` bytes of JSON text into *out. On success returns 0; the caller
 * releases out->body with json_decref (the other fields point into it). Otherwise
 * returns the HTTP status to answer, 400 for text that is not JSON and 422 for JSON of
 * the wrong shape, with *detail (pn_malloc'd, the caller frees) saying what is wrong in
 * Cog's wording; *out is then zeroed. */
int pn_serve_request_parse(const char *text, size_t length, pn_serve_request *out, char **detail);

#endif
