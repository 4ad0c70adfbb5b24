/* Messages and names for the PN_E* codes of error.h, generated from the one
 * X-macro list so that adding a code is a one-line change. */
#include "core/error.h"

const char *pn_strerror(int code) {
  switch (code) {
  case PN_OK:
    return "success";
#define PN_ERROR_MESSAGE(name, number, message)                                \
  case PN_E##name:                                                             \
    return message;
    PN_ERROR_MAP(PN_ERROR_MESSAGE)
#undef PN_ERROR_MESSAGE
  }
  return "unknown error";
}

const char *pn_errname(int code) {
  switch (code) {
  case PN_OK:
    return "PN_OK";
#define PN_ERROR_NAME(name, number, message)                                   \
  case PN_E##name:                                                             \
    return "PN_E" #name;
    PN_ERROR_MAP(PN_ERROR_NAME)
#undef PN_ERROR_NAME
  }
  return "PN_E?";
}
