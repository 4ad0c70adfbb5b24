/* Showing a prediction's output in the terminal as Cog's CLI does: text printed,
 * JSON pretty-printed, files written to output.<ext> (output.<i>.<ext> for several)
 * or to the -o path, and iterator items as they are produced. */
#ifndef PN_CLI_OUTPUTS_H
#define PN_CLI_OUTPUTS_H

#include "runtime/prediction.h"

#include <jansson.h>

typedef struct pn_cli_output {
  const char *path;  /* -o, or NULL */
  int concatenate;   /* the output is a ConcatenateIterator: print items without breaks */
  int printed_items; /* iterator items already printed */
  int files_written;
} pn_cli_output;

/* Prints one iterator item as it arrives (files are written at the end). */
void pn_cli_output_item(pn_cli_output *output, const json_t *item, int is_file);
/* Writes files and prints what is left of the final output. Returns 0, or 1 after
 * printing why a file could not be written. */
int pn_cli_output_finish(pn_cli_output *output, pn_prediction *prediction);

#endif
