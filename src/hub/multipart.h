/* multipart/form-data bodies (RFC 7578), as `POST /v1/files` receives them from
 * Replicate's JS client (metadata as a file-like JSON part) and PY client (metadata as
 * a text field). The parser does not copy: parts point into the body. */
#ifndef PN_HUB_MULTIPART_H
#define PN_HUB_MULTIPART_H

#include <stddef.h>

typedef struct pn_hub_part {
  char *name;         /* the form field name (pn_malloc'd) */
  char *filename;     /* from Content-Disposition, or NULL (pn_malloc'd) */
  char *content_type; /* the part's Content-Type, or NULL (pn_malloc'd) */
  const char *data;   /* points into the body */
  size_t length;
} pn_hub_part;

/* Splits `body` by the boundary named in `content_type`. On success *parts is a
 * pn_malloc'd array of *count parts that the caller frees with pn_hub_parts_free (the
 * body must outlive them). PN_EPARSE (with *error, static text) on a malformed body
 * or a content type without a boundary. */
int pn_hub_multipart_parse(const char *content_type, const char *body, size_t length,
                           pn_hub_part **parts, size_t *count, const char **error);
void pn_hub_parts_free(pn_hub_part *parts, size_t count);
/* The first part called `name`, or NULL. */
const pn_hub_part *pn_hub_part_find(const pn_hub_part *parts, size_t count, const char *name);

#endif
