/* pinion's one error convention.
 *
 * Functions return int: 0 on success or a negative PN_E* code. Results come back
 * through out-parameters. The codes and their messages come from one X-macro list,
 * as libuv does with UV_E*, so a code can never lack its message. */
#ifndef PN_CORE_ERROR_H
#define PN_CORE_ERROR_H

#define PN_ERROR_MAP(XX)                                                      \
  XX(NOMEM, 1, "out of memory")                                               \
  XX(INVAL, 2, "invalid argument")                                            \
  XX(IO, 3, "input/output error")                                             \
  XX(NOENT, 4, "no such file or directory")                                   \
  XX(PARSE, 5, "malformed input")                                             \
  XX(PROTO, 6, "protocol error")                                              \
  XX(TOOBIG, 7, "too large")                                                  \
  XX(TIMEOUT, 8, "timed out")                                                 \
  XX(CANCELED, 9, "canceled")                                                 \
  XX(STATE, 10, "not allowed in the current state")                           \
  XX(EXISTS, 11, "already exists")                                            \
  XX(UNSUPPORTED, 12, "not supported")                                        \
  XX(CHILD, 13, "child process failed")                                       \
  XX(CLOSED, 14, "connection closed")                                         \
  XX(AGAIN, 15, "try again")                                                  \
  XX(BUSY, 16, "busy")

enum pn_error {
  PN_OK = 0,
#define PN_ERROR_ENUM(name, number, message) PN_E##name = -(number),
  PN_ERROR_MAP(PN_ERROR_ENUM)
#undef PN_ERROR_ENUM
};

/* The message for a PN_E* code (a static string; never NULL). */
const char *pn_strerror(int code);

/* The symbolic name of a PN_E* code, e.g. "PN_EINVAL" (a static string). */
const char *pn_errname(int code);

#endif
