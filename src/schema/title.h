/* Titles that Cog derives from parameter and field names. */
#ifndef PN_SCHEMA_TITLE_H
#define PN_SCHEMA_TITLE_H

/* The title of `name` by Cog C's rule: split on "_", upper-case the first character of
 * each piece, join with single spaces ("num_outputs" -> "Num Outputs", "_x" -> " X").
 * pn_malloc'd; the caller frees it. NULL without memory. */
char *pn_schema_title(const char *name);

#endif
