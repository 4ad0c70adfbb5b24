/* The hub's web pages: everything outside /v1/ and /internal/. Sign-in (/login,
 * /logout: the session is a cookie holding an API token, HttpOnly and SameSite=Strict),
 * the embedded files under /static/, the page shell (web/hub.html) for the page paths,
 * and the few JSON calls only the pages make (/session/tokens). See
 * docs/internals/web.md. */
#ifndef PN_HUB_PAGES_H
#define PN_HUB_PAGES_H

#include "hub/hub.h"

/* The name of the session cookie; server.c accepts it as auth besides Authorization. */
#define PN_HUB_SESSION_COOKIE "pinion_session"

void pn_hub_pages_serve(pn_hub_request *request);

#endif
