/* Loading libpq on demand. See pq_api.h. */
#if __has_include(<libpq-fe.h>)
#include "store/pq_api.h"

#include <dlfcn.h>
#include <stddef.h>

static pn_pq_api api;
static int loaded;
static const char *load_error;

#define RESOLVE(field, name)                                                                       \
  do {                                                                                             \
    *(void **)&api.field = dlsym(library, name);                                                   \
    if (!api.field) {                                                                              \
      load_error = "libpq.so.5 lacks " name " (install a current libpq5)";                         \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

static const pn_pq_api *load(void) {
  void *library = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    load_error = "libpq.so.5 could not be loaded: a postgres:// database needs PostgreSQL's "
                 "client library (apt-get install libpq5)";
    return NULL;
  }
  RESOLVE(connectdb_params, "PQconnectdbParams");
  RESOLVE(status, "PQstatus");
  RESOLVE(error_message, "PQerrorMessage");
  RESOLVE(finish, "PQfinish");
  RESOLVE(exec, "PQexec");
  RESOLVE(exec_params, "PQexecParams");
  RESOLVE(result_status, "PQresultStatus");
  RESOLVE(result_error_field, "PQresultErrorField");
  RESOLVE(result_error_message, "PQresultErrorMessage");
  RESOLVE(ntuples, "PQntuples");
  RESOLVE(getvalue, "PQgetvalue");
  RESOLVE(getisnull, "PQgetisnull");
  RESOLVE(cmd_tuples, "PQcmdTuples");
  RESOLVE(clear, "PQclear");
  RESOLVE(socket, "PQsocket");
  RESOLVE(consume_input, "PQconsumeInput");
  RESOLVE(set_notice_processor, "PQsetNoticeProcessor");
  return &api;
}

const pn_pq_api *pn_pq(const char **error) {
  if (!loaded) {
    loaded = 1;
    load();
  }
  if (error)
    *error = load_error;
  return load_error ? NULL : &api;
}
#endif
