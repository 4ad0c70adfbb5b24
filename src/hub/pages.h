/* The hub's web pages: everything outside /v1/ and /internal/. The table in pages.c is
 * the entry point where pages are added; until then `/` says what this server is. */
#ifndef PN_HUB_PAGES_H
#define PN_HUB_PAGES_H

#include "hub/hub.h"

void pn_hub_pages_serve(pn_hub_request *request);

#endif
