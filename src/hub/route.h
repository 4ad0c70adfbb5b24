/* The hub's path matcher: a route's pattern against a request's path, with `{}`
 * segments percent-decoded into parameters. It reads bytes straight off the network,
 * so it lives apart from the route table where the fuzzer (tests/fuzz/fuzz_route.c)
 * can reach it. */
#ifndef PN_HUB_ROUTE_H
#define PN_HUB_ROUTE_H

/* The most `{}` segments a pattern may hold. */
#define PN_HUB_ROUTE_PARAMS 4
/* The longest decoded `{}` segment (a model name, an id); a longer one does not match. */
#define PN_HUB_ROUTE_SEGMENT_MAX 4096

/* Whether `path` matches `pattern` (a trailing "/" on the path is allowed). On a match
 * returns 1 and params[0..n) hold the decoded `{}` segments, pn_malloc'd, which the
 * caller frees; the rest stay NULL. Returns 0 and leaves every params[i] NULL when the
 * path does not match, including when a segment is empty, too long, or decodes to a
 * NUL byte or a '/' (so "a%2Fb" or "a%00" cannot pose as a name). */
int pn_hub_route_match(const char *pattern, const char *path, char *params[PN_HUB_ROUTE_PARAMS]);

#endif
