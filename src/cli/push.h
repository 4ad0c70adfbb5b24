/* What `pinion push` reads back from the hub. Whatever listens at --hub answers, so its
 * answer is untrusted bytes: the reader is separate from the command so that the fuzzer
 * (tests/fuzz/fuzz_push_reply.c) can feed it any. */
#ifndef PN_CLI_PUSH_H
#define PN_CLI_PUSH_H

#include <stddef.h>

/* The longest text of the hub's shown in a message (a refusal's detail, a body that is
 * not JSON). */
#define PN_CLI_PUSH_SHOWN_MAX 2000

/* Reads the hub's answer to a push: HTTP `status` and `length` bytes of `body` (NULL or
 * empty: no body). Returns 0 with *id, the new version's id (pn_malloc'd, the caller
 * frees), when the hub accepted the push with a JSON object holding an id of at most 256
 * printable ASCII characters. Otherwise PN_EINVAL (PN_ENOMEM without memory) with
 * *problem (pn_malloc'd, the caller frees), one line that names `hub` and says what was
 * wrong: the hub's refusal and its detail, or an answer that is not a version (another
 * server on that port, a proxy's page). Text from the answer is shown at most
 * PN_CLI_PUSH_SHOWN_MAX bytes long, with control bytes replaced by '?'. */
int pn_cli_push_reply(const char *hub, long status, const char *body, size_t length, char **id,
                      char **problem);

#endif
