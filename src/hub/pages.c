/* Static and generated pages under `/`. Each entry maps an exact path to a handler;
 * a path with no entry is a 404 problem. See pages.h. */
#include "hub/pages.h"

#include <string.h>

typedef struct page {
  const char *path;
  pn_hub_handler handler;
} page;

static void home(pn_hub_request *request) {
  static const char text[] = "pinion hub: Replicate's HTTP API v1 is served under /v1/.\n";
  pn_hub_reply_bytes(request, 200, "text/plain; charset=utf-8", text, sizeof text - 1);
}

static const page pages[] = {
    {"/", home},
};

void pn_hub_pages_serve(pn_hub_request *request) {
  for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
    if (strcmp(pages[i].path, request->path) == 0) {
      pages[i].handler(request);
      return;
    }
  }
  pn_hub_problem(request, 404, NULL, "There is no page at %s.", request->path);
}
