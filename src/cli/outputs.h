/* Showing a prediction's output in the terminal as Cog's CLI does: text printed,
 * JSON pretty-printed, files written to output.<ext> (output.<i>.<ext> for several)
 * or to the -o path, iterator items as they are produced when stdout is a terminal
 * (else the final array, as Cog prints it), and with --json the whole response. */
#ifndef PN_CLI_OUTPUTS_H
#define PN_CLI_OUTPUTS_H

#include "runtime/prediction.h"

#include <jansson.h>

typedef struct pn_cli_output {
  const char *path;  /* -o, or NULL */
  int response;      /* --json: print Cog's response object instead of the output */
  int stream_items;  /* print iterator items as they come (stdout is a terminal) */
  int concatenate;   /* the output is a ConcatenateIterator: print items without breaks */
  int printed_items; /* iterator items already printed */
  int files_written;
} pn_cli_output;

/* Prints one iterator item as it arrives (files are written at the end). */
void pn_cli_output_item(pn_cli_output *output, const json_t *item, int is_file);
/* Writes files and prints what is left of the final output. Returns 0, or 1 after
 * printing why a file could not be written. */
int pn_cli_output_finish(pn_cli_output *output, pn_prediction *prediction);
/* --json: writes file outputs (output.<ext>, or beside the -o path), then prints Cog's
 * response object {"status","output","error","logs","metrics"} as indented JSON, or
 * writes it to the -o path. Any terminal status. Returns the exit code: 0 when the
 * prediction succeeded and everything was written, else 1. */
int pn_cli_output_response(pn_cli_output *output, pn_prediction *prediction);

#endif
