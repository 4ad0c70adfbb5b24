/* libpq, loaded when a hub is given a postgres:// database. Most hubs keep their state
 * in SQLite and never need PostgreSQL's client library, so pinion opens libpq.so.5 with
 * dlopen on the first connection (as core/curl_api.c does for libcurl) and calls it
 * through this table; building needs only libpq's headers. */
#ifndef PN_STORE_PQ_API_H
#define PN_STORE_PQ_API_H

#include <libpq-fe.h>

typedef struct pn_pq_api {
  PGconn *(*connectdb_params)(const char *const *keywords, const char *const *values,
                              int expand_dbname);
  ConnStatusType (*status)(const PGconn *conn);
  char *(*error_message)(const PGconn *conn);
  void (*finish)(PGconn *conn);
  PGresult *(*exec)(PGconn *conn, const char *query);
  PGresult *(*exec_params)(PGconn *conn, const char *command, int count, const Oid *types,
                           const char *const *values, const int *lengths, const int *formats,
                           int result_format);
  ExecStatusType (*result_status)(const PGresult *result);
  char *(*result_error_field)(const PGresult *result, int field);
  char *(*result_error_message)(const PGresult *result);
  int (*ntuples)(const PGresult *result);
  char *(*getvalue)(const PGresult *result, int row, int column);
  int (*getisnull)(const PGresult *result, int row, int column);
  char *(*cmd_tuples)(PGresult *result);
  void (*clear)(PGresult *result);
  int (*socket)(const PGconn *conn);
  int (*consume_input)(PGconn *conn);
  PQnoticeProcessor (*set_notice_processor)(PGconn *conn, PQnoticeProcessor processor, void *arg);
} pn_pq_api;

/* The table, loading libpq on first call. NULL when libpq cannot be loaded; *error
 * (static text) then says why and what to install. */
const pn_pq_api *pn_pq(const char **error);

#endif
