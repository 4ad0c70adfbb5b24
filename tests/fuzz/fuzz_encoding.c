/* libFuzzer target for core/encoding.c, the decoders of `data:` inputs and URL pieces:
 * each input is read as a data URI, as base64, as percent-encoded text and as text to
 * repair into UTF-8.
 *
 * Invariants: encoding bytes as base64 and decoding them gives the same bytes; decoding
 * never produces more bytes than it read; a repaired text is valid UTF-8 (repairing it
 * again changes nothing) and pn_utf8_complete_length cuts at most three bytes. */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/encoding.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT ((size_t)1 << 24)

static void check_base64_round_trip(const uint8_t *data, size_t size) {
  pn_buf encoded, decoded;
  pn_buf_init(&encoded, LIMIT);
  pn_buf_init(&decoded, LIMIT);
  if (pn_base64_encode(data, size, &encoded) < 0 ||
      pn_base64_decode(encoded.data ? encoded.data : "", encoded.length, &decoded) < 0 ||
      decoded.length != size || (size && memcmp(decoded.data, data, size) != 0))
    abort();
  pn_buf_free(&encoded);
  pn_buf_free(&decoded);
}

static void check_decoders(const char *text, size_t size) {
  pn_buf out;
  pn_buf_init(&out, LIMIT);
  if (pn_base64_decode(text, size, &out) == 0 && out.length > size)
    abort();
  pn_buf_reset(&out);
  if (pn_percent_decode(text, size, 1, &out) == 0 && out.length > size)
    abort();
  pn_buf_reset(&out);
  char *media_type = NULL;
  const char *error = NULL;
  int rc = pn_data_uri_decode(text, size, &media_type, &out, &error);
  if (rc == 0 && (!media_type || error || out.length > size || strchr(media_type, ',')))
    abort();
  if (rc < 0 && (media_type || !error))
    abort();
  pn_free(media_type);
  pn_buf_free(&out);
}

static void check_utf8(const char *text, size_t size) {
  pn_buf repaired, again;
  pn_buf_init(&repaired, LIMIT);
  pn_buf_init(&again, LIMIT);
  if (pn_utf8_sanitize(text, size, &repaired) < 0 ||
      pn_utf8_sanitize(repaired.data ? repaired.data : "", repaired.length, &again) < 0 ||
      again.length != repaired.length ||
      (again.length && memcmp(again.data, repaired.data, again.length) != 0))
    abort();
  size_t complete = pn_utf8_complete_length(text, size);
  if (complete > size || size - complete > 3)
    abort();
  pn_buf_free(&repaired);
  pn_buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size ? size : 1); /* exactly its size: no terminator to lean on */
  if (!text)
    abort();
  memcpy(text, data, size);
  check_base64_round_trip(data, size);
  check_decoders(text, size);
  check_utf8(text, size);
  free(text);
  return 0;
}
