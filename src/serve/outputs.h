/* File outputs: the worker hands back local paths (at JSON pointers listed in
 * `files`); this module turns each into what clients receive: a data: URI, or, with
 * an upload URL, the URL the file was PUT to. Uploads run on the loop, one file at a
 * time per value so the output keeps the order the model produced. */
#ifndef PN_SERVE_OUTPUTS_H
#define PN_SERVE_OUTPUTS_H

#include "core/http_client.h"

#include <jansson.h>

/* The largest file inlined as a data: URI (64 MiB); bigger ones need --upload-url. */
#define PN_OUTPUT_INLINE_MAX (64u * 1024u * 1024u)

typedef struct pn_outputs_job pn_outputs_job;

/* `encoded` is the value with its files replaced (borrowed for the call), or NULL with
 * `error` saying which file failed and why. */
typedef void (*pn_outputs_done_fn)(void *arg, json_t *encoded, const char *error);

/* Encodes the files in `value` at the pointers in `files`. With no upload URL the work
 * is done at once: returns 1 and *encoded (new reference). With one, returns 0 and
 * `done` follows (*job can cancel it). Negative PN_E* with *error (pn_malloc'd) on
 * failure at once. */
int pn_outputs_encode(pn_http_client *client, const char *upload_url, const json_t *value,
                      const json_t *files, pn_outputs_done_fn done, void *arg,
                      pn_outputs_job **job, json_t **encoded, char **error);
/* Stops the uploads; the callback will not run. */
void pn_outputs_cancel(pn_outputs_job *job);

/* The data: URI of a file, pn_malloc'd, or NULL with *error set. */
char *pn_outputs_data_uri(const char *path, char **error);

/* The node of `root` at an RFC 6901 pointer ("" is root itself), or NULL. Borrowed. */
json_t *pn_json_pointer_get(json_t *root, const char *pointer);
/* Replaces the node at `pointer` (not ""); steals `value`. */
int pn_json_pointer_set(json_t *root, const char *pointer, json_t *value);

#endif
