/* Shared between the files of src/config/; not part of the module's API. */
#ifndef PN_CONFIG_INTERNAL_H
#define PN_CONFIG_INTERNAL_H

#include "config/config.h"

/* Fills config->json from the validated fields. Returns 0 or PN_ENOMEM. */
int pn_config_build_json(pn_config *config);

/* Sets *absolute to an absolute form of `path` (prefixed with the current folder when
 * relative), with "." components and repeated slashes removed; pn_malloc'd, the caller
 * frees it. PN_EIO when the current folder cannot be read, PN_ENOMEM. */
int pn_config_absolute_path(const char *path, char **absolute);

/* The folder part of an absolute path ("/" for "/x"); pn_malloc'd, the caller frees it. */
char *pn_config_parent_dir(const char *absolute);

#endif
