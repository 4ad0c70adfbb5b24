/* The server's end of the worker protocol (docs/internals/worker-protocol.md): frames
 * of a 4-byte big-endian length and one JSON object, over a socket owned by the
 * libevent loop. The codec functions are separate from the socket so that tests and
 * the fuzzer can feed them bytes directly. */
#ifndef PN_RUNTIME_IPC_H
#define PN_RUNTIME_IPC_H

#include "core/buf.h"

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The largest frame payload either side accepts (64 MiB). */
#define PN_IPC_FRAME_MAX (64u * 1024u * 1024u)

/* Appends one frame holding `message` (a JSON object) to `out`. PN_ETOOBIG past
 * PN_IPC_FRAME_MAX or the ceiling of `out`, which then has failed (see buf.h). */
int pn_ipc_encode(const json_t *message, pn_buf *out);

/* A frame the caller writes itself (a batch's message, from parts it already holds):
 * pn_ipc_frame_begin reserves the header in `out` and sets *start; write one JSON
 * object after it; pn_ipc_frame_end fills the header in. Both return 0 or the buffer's
 * error; pn_ipc_frame_end PN_ETOOBIG past PN_IPC_FRAME_MAX, and `out` has failed. */
int pn_ipc_frame_begin(pn_buf *out, size_t *start);
int pn_ipc_frame_end(pn_buf *out, size_t start);

/* Tries to take one frame from the front of `bytes` (`length` long).
 * Returns 1 with *message (a new reference) and *consumed set when a whole frame was
 * there; 0 when more bytes are needed; PN_EPROTO with *error (pn_malloc'd, caller
 * frees) for a frame that is too short, too long, not JSON or not an object with a
 * string "type". */
int pn_ipc_decode(const unsigned char *bytes, size_t length, json_t **message, size_t *consumed,
                  char **error);

typedef struct pn_ipc pn_ipc;

/* Called for each message; the message is borrowed for the duration of the call. */
typedef void (*pn_ipc_message_fn)(pn_ipc *ipc, json_t *message, void *arg);
/* Called once when the channel ends: `error` is 0 for end of file, else a PN_E* code
 * with `reason` saying what was wrong. No callback runs after it. */
typedef void (*pn_ipc_closed_fn)(pn_ipc *ipc, int error, const char *reason, void *arg);

/* Takes ownership of `fd` (made non-blocking) and reads frames on `base`. */
int pn_ipc_open(struct event_base *base, int fd, pn_ipc_message_fn on_message,
                pn_ipc_closed_fn on_closed, void *arg, pn_ipc **ipc);
/* Queues a message; it is written as the socket accepts it. */
int pn_ipc_send(pn_ipc *ipc, const json_t *message);
/* The same for frames already encoded in `frames` (pn_ipc_encode's, or written between
 * pn_ipc_frame_begin and pn_ipc_frame_end). */
int pn_ipc_send_frames(pn_ipc *ipc, const pn_buf *frames);
/* Closes the socket and frees the channel; no callback runs afterwards. */
void pn_ipc_close(pn_ipc *ipc);

#endif
