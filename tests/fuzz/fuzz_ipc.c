/* libFuzzer target for the worker protocol's frame decoder (runtime/ipc.c): the bytes a
 * model's worker process writes, which the server must survive whatever the model does.
 * Input: a stream of frames, decoded front to back as the channel does.
 *
 * Invariants: a decoded message is an object with a string "type" that re-encodes to a
 * frame decoding to an equal message; a frame is never reported whole from fewer bytes
 * than it takes; an error always comes with a reason. */
#include "core/alloc.h"
#include "core/buf.h"
#include "runtime/ipc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_round_trip(const json_t *message) {
  pn_buf frame;
  pn_buf_init(&frame, (size_t)PN_IPC_FRAME_MAX + 4);
  json_t *again = NULL;
  size_t consumed = 0;
  char *error = NULL;
  if (pn_ipc_encode(message, &frame) < 0 ||
      pn_ipc_decode((const unsigned char *)frame.data, frame.length, &again, &consumed, &error) !=
          1 ||
      consumed != frame.length || !json_equal(message, again))
    abort();
  json_decref(again);
  pn_buf_free(&frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pn_alloc_install_json();
  size_t offset = 0;
  for (;;) {
    json_t *message = NULL;
    size_t consumed = 0;
    char *error = NULL;
    int rc = pn_ipc_decode(data + offset, size - offset, &message, &consumed, &error);
    if (rc < 0) {
      if (!error || message)
        abort();
      pn_free(error);
      break;
    }
    if (rc == 0) {
      if (message || error || consumed)
        abort();
      break;
    }
    if (!json_is_object(message) || !json_is_string(json_object_get(message, "type")) ||
        consumed < 6 || consumed > size - offset)
      abort();
    json_t *early = NULL;
    size_t early_consumed = 0;
    char *early_error = NULL;
    if (pn_ipc_decode(data + offset, consumed - 1, &early, &early_consumed, &early_error) != 0)
      abort();
    check_round_trip(message);
    json_decref(message);
    offset += consumed;
  }
  return 0;
}
