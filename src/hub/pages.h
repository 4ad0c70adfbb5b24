/* The hub's web pages: everything outside /v1/ and /internal/. Sign-in (/login,
 * /logout: the session is a cookie holding a session id, HttpOnly and SameSite=Strict;
 * see sessions.h),
 * the embedded files under /static/, the page shell (web/hub.html) for the page paths,
 * and the few JSON calls only the pages make (/session/tokens). See
 * docs/internals/web.md. */
#ifndef PN_HUB_PAGES_H
#define PN_HUB_PAGES_H

#include "hub/hub.h"

void pn_hub_pages_serve(pn_hub_request *request);

#endif
