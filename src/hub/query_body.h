/* Bodies that libevent 2.1 leaves unread: it knows no QUERY method, so it hands such a
 * request over as soon as its headers are in, and its body (Content-Length bytes) is
 * still in the connection's input or on its way. See query_body.c. */
#ifndef PN_HUB_QUERY_BODY_H
#define PN_HUB_QUERY_BODY_H

#include "hub/hub.h"

/* Most bytes of a QUERY body, and seconds for the rest of it to arrive. */
#define PN_HUB_QUERY_BODY_MAX ((size_t)64 * 1024)
#define PN_HUB_QUERY_BODY_SECONDS 10

/* Called with the whole body (borrowed for the call; NULL and 0 when there is none). */
typedef void (*pn_hub_body_ready_fn)(pn_hub *hub, struct evhttp_request *request,
                                     const unsigned char *body, size_t length);

/* Reads the body of `request` through the loop and then calls `ready`: at once when it
 * is already buffered, else when the rest has arrived. Never blocks. Answers itself,
 * and closes the connection, when the body is malformed (400), chunked (411), over
 * PN_HUB_QUERY_BODY_MAX (413), not complete within PN_HUB_QUERY_BODY_SECONDS (408), or
 * the client went away. */
void pn_hub_read_unknown_body(pn_hub *hub, struct evhttp_request *request,
                              pn_hub_body_ready_fn ready);

#endif
