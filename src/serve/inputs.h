/* File inputs: before a prediction reaches the worker, every `Path`/`File` input that
 * is an http(s) URL is downloaded (streamed to disk under a size ceiling) and every
 * data: URI decoded off the loop, at most 8 at a time, into the prediction's own
 * temporary folder;
 * the input then holds the local path. Other strings pass through unchanged, as in
 * Cog: a local path from `pinion predict -i x=@file` is already a file. */
#ifndef PN_SERVE_INPUTS_H
#define PN_SERVE_INPUTS_H

#include "core/http_client.h"
#include "core/pool.h"
#include "schema/validate.h"

#include <jansson.h>

/* The limits on a prediction's file inputs (docs/limits.md), each read once from its
 * environment variable: the largest file (16 GiB, PINION_INPUT_FILE_MAX), all its
 * files together (16 GiB, PINION_INPUT_TOTAL_MAX), how many URLs and data: URIs
 * (1000, PINION_INPUT_FILES_MAX) and the time one download may take (300 s,
 * PINION_INPUT_DOWNLOAD_TIMEOUT). */
size_t pn_inputs_file_max(void);
size_t pn_inputs_total_max(void);
size_t pn_inputs_count_max(void);
long pn_inputs_download_timeout_ms(void);

/* Checks the count of URL and data: URI inputs and what the data: URIs decode to
 * against the limits, before anything is decoded or fetched. Returns 0, or
 * PN_ETOOBIG with *message (pn_malloc'd) naming the limit and how to raise it. */
int pn_inputs_check_limits(const pn_schema_validator *validator, const json_t *input,
                           char **message);

typedef struct pn_inputs_fetch pn_inputs_fetch;

/* `error` is NULL on success, else Cog's text for the failure (without the "Input
 * validation error: " prefix), borrowed for the call. */
typedef void (*pn_inputs_done_fn)(void *arg, const char *error);

/* Rewrites the file inputs of `input` (a validated input object) to local paths under
 * `temp_dir`: URLs downloaded by `client`, data: URIs decoded on `pool`. Returns 1
 * when there was nothing to do (no callback follows), 0 when downloads and decodes are
 * running (`done` follows, and *fetch can cancel them), or a
 * negative PN_E* code with *error set (pn_malloc'd) when it failed at once. */
int pn_inputs_prepare(pn_http_client *client, pn_pool *pool, const pn_schema_validator *validator,
                      json_t *input, const char *temp_dir, pn_inputs_done_fn done, void *arg,
                      pn_inputs_fetch **fetch, char **error);
/* Stops the downloads; the callback will not run. */
void pn_inputs_cancel(pn_inputs_fetch *fetch);

/* Over HTTP a file input must be a URL or a data: URI: a bare path would let a
 * client make the model read files on the server. Returns 0, or PN_EINVAL with
 * *detail (a new array of Cog's 422 entries, as the legacy server answered). */
int pn_inputs_check_remote(const pn_schema_validator *validator, const json_t *input,
                           json_t **detail);

/* The file name Cog gives an input fetched from `url`: the last path segment,
 * percent-decoded, '/' and NUL replaced, at most 200 bytes keeping the extension;
 * "file" when empty. pn_malloc'd. */
char *pn_inputs_file_name(const char *url);

#endif
