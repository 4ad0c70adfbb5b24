/* A growable byte buffer with a ceiling, like curl's dynbuf: every buffer that holds
 * data from outside (request bodies, IPC frames, log lines) says how big it may grow,
 * and an append past that ceiling fails with PN_ETOOBIG instead of growing.
 *
 * Failure is sticky: the first append that fails (past the ceiling, or out of memory)
 * frees the contents and records its code, and every later append fails with that
 * code, so a writer may append many times and check once at the end (pn_buf_error).
 * pn_buf_free and pn_buf_reset make the buffer usable again. */
#ifndef PN_CORE_BUF_H
#define PN_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct pn_buf {
  char *data;    /* always NUL-terminated when non-NULL */
  size_t length; /* bytes used, not counting the terminator */
  size_t capacity;
  size_t limit; /* the most `length` may reach */
  int failed;   /* 0, or the PN_E* code of the first append that failed */
} pn_buf;

/* A buffer that may hold up to `limit` bytes; it allocates nothing yet. */
void pn_buf_init(pn_buf *buf, size_t limit);
/* Releases the memory; the buffer is empty, not failed, and reusable afterwards. */
void pn_buf_free(pn_buf *buf);
/* Empties the buffer but keeps its memory; it is no longer failed. */
void pn_buf_reset(pn_buf *buf);
/* 0, or the PN_E* code (PN_ETOOBIG, PN_ENOMEM) of the append that failed. */
int pn_buf_error(const pn_buf *buf);
/* Each append returns 0 or the buffer's sticky failure code. */
int pn_buf_append(pn_buf *buf, const void *bytes, size_t length);
int pn_buf_append_str(pn_buf *buf, const char *text);
int pn_buf_appendf(pn_buf *buf, const char *format, ...) __attribute__((format(printf, 2, 3)));
int pn_buf_vappendf(pn_buf *buf, const char *format, va_list args);
/* Makes room for `extra` more bytes without changing the contents, so a caller can
 * write into data + length directly. PN_ETOOBIG past the limit (sticky, as appends). */
int pn_buf_reserve(pn_buf *buf, size_t extra);
/* Drops the first `count` bytes. */
void pn_buf_consume(pn_buf *buf, size_t count);
/* Hands the data to the caller, who frees it with pn_free; the buffer is left empty.
 * Returns an empty string (never NULL) for an empty buffer, or NULL without memory. */
char *pn_buf_take(pn_buf *buf);

#endif
