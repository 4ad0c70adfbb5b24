/* Titles for inputs, output fields and path parameters, as Cog C's generator writes
 * them. Cog C (unlike pydantic) leaves the rest of each piece alone, so `myURLParam`
 * stays `MyURLParam`; empty pieces from doubled or outer underscores become extra
 * spaces because the pieces are joined, not collapsed. */
#include "schema/title.h"

#include "core/alloc.h"

#include <string.h>

char *pn_schema_title(const char *name) {
  char *title = pn_strdup(name);
  if (!title)
    return NULL;
  int piece_start = 1;
  for (char *at = title; *at; at++) {
    if (*at == '_') {
      *at = ' ';
      piece_start = 1;
    } else {
      if (piece_start && *at >= 'a' && *at <= 'z')
        *at = (char)(*at - 'a' + 'A');
      piece_start = 0;
    }
  }
  return title;
}
