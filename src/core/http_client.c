/* libcurl's multi-socket interface on libevent, after curl's own hiperfifo example:
 * curl says which sockets to watch and when to wake it; libevent watches and wakes;
 * finished transfers are collected after every action. See http_client.h. */
#include "core/http_client.h"

#include "core/alloc.h"
#include "core/curl_api.h"
#include "core/error.h"
#include "core/log.h"
#include "core/version.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Loaded with the first transfer (ensure_multi); nothing calls it before that. */
static const pn_curl_api *curl;

#define DEFAULT_MAX_RESPONSE (64u * 1024u * 1024u)

struct pn_http_client {
  struct event_base *base;
  CURLM *multi;
  struct event *timer;
  pn_http_transfer *transfers; /* doubly linked */
  size_t active;
  pn_http_progress_fn progress;
  void *progress_arg;
  char *route_origin; /* pn_http_client_route_unix */
  char *route_socket;
};

struct pn_http_transfer {
  pn_http_client *client;
  pn_http_transfer *prev, *next;
  CURL *easy;
  struct curl_slist *headers;
  char *url, *method, *user_agent;
  void *body;
  FILE *upload, *download;
  char *download_path;
  pn_buf response;
  size_t max_response, received;
  char *location, *content_type;
  char error[CURL_ERROR_SIZE];
  int too_big;
  pn_http_done_fn done;
  void *arg;
};

typedef struct socket_watch {
  struct event *event;
} socket_watch;

static void check_finished(pn_http_client *client);

static void on_socket_ready(evutil_socket_t fd, short what, void *arg) {
  pn_http_client *client = arg;
  int action = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
  int running = 0;
  curl->multi_socket_action(client->multi, fd, action, &running);
  check_finished(client);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *clientp, void *socketp) {
  pn_http_client *client = clientp;
  socket_watch *watch = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (watch) {
      event_free(watch->event);
      pn_free(watch);
      curl->multi_assign(client->multi, fd, NULL);
    }
    return 0;
  }
  short events = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
                 (what & CURL_POLL_OUT ? EV_WRITE : 0);
  if (!watch) {
    watch = pn_calloc(1, sizeof *watch);
    if (!watch)
      return -1;
    curl->multi_assign(client->multi, fd, watch);
  } else {
    event_free(watch->event);
  }
  watch->event = event_new(client->base, fd, events, on_socket_ready, client);
  if (!watch->event)
    return -1;
  event_add(watch->event, NULL);
  return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  pn_http_client *client = arg;
  int running = 0;
  curl->multi_socket_action(client->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_finished(client);
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *clientp) {
  pn_http_client *client = clientp;
  if (timeout_ms < 0) {
    event_del(client->timer);
    return 0;
  }
  struct timeval when = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  event_add(client->timer, &when);
  return 0;
}

int pn_http_client_new(struct event_base *base, pn_http_client **out) {
  pn_http_client *client = pn_calloc(1, sizeof *client);
  if (!client)
    return PN_ENOMEM;
  client->base = base;
  client->timer = evtimer_new(base, on_timer, client);
  if (!client->timer) {
    pn_http_client_free(client);
    return PN_ENOMEM;
  }
  *out = client;
  return 0;
}

/* libcurl and the multi handle come with the first transfer, so a process that never
 * makes a request never loads libcurl. */
static int ensure_multi(pn_http_client *client, const char **error) {
  if (client->multi)
    return 0;
  curl = pn_curl(error);
  if (!curl)
    return PN_EIO;
  client->multi = curl->multi_init();
  if (!client->multi) {
    *error = "curl_multi_init failed";
    return PN_ENOMEM;
  }
  curl->multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl->multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client);
  curl->multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
  curl->multi_setopt(client->multi, CURLMOPT_TIMERDATA, client);
  return 0;
}

static void unlink_transfer(pn_http_transfer *transfer) {
  pn_http_client *client = transfer->client;
  if (transfer->prev)
    transfer->prev->next = transfer->next;
  else
    client->transfers = transfer->next;
  if (transfer->next)
    transfer->next->prev = transfer->prev;
  client->active--;
}

static void free_transfer(pn_http_transfer *transfer) {
  if (transfer->easy) {
    curl->multi_remove_handle(transfer->client->multi, transfer->easy);
    curl->easy_cleanup(transfer->easy);
  }
  curl->slist_free_all(transfer->headers);
  if (transfer->upload)
    fclose(transfer->upload);
  if (transfer->download)
    fclose(transfer->download);
  pn_free(transfer->url);
  pn_free(transfer->method);
  pn_free(transfer->user_agent);
  pn_free(transfer->body);
  pn_free(transfer->download_path);
  pn_free(transfer->location);
  pn_free(transfer->content_type);
  pn_buf_free(&transfer->response);
  pn_free(transfer);
}

void pn_http_client_free(pn_http_client *client) {
  if (!client)
    return;
  while (client->transfers) {
    pn_http_transfer *transfer = client->transfers;
    unlink_transfer(transfer);
    free_transfer(transfer);
  }
  if (client->multi)
    curl->multi_cleanup(client->multi);
  if (client->timer)
    event_free(client->timer);
  pn_free(client->route_origin);
  pn_free(client->route_socket);
  pn_free(client);
}

static size_t on_body(char *bytes, size_t size, size_t count, void *arg) {
  pn_http_transfer *transfer = arg;
  size_t length = size * count;
  if (transfer->received + length > transfer->max_response) {
    transfer->too_big = 1;
    return 0;
  }
  transfer->received += length;
  if (transfer->download)
    return fwrite(bytes, 1, length, transfer->download);
  return pn_buf_append(&transfer->response, bytes, length) == 0 ? length : 0;
}

/* Keeps the headers callers ask about; the last response's values win. */
static size_t on_header(char *bytes, size_t size, size_t count, void *arg) {
  pn_http_transfer *transfer = arg;
  size_t length = size * count;
  static const struct {
    const char *name;
    size_t offset;
  } wanted[] = {{"location:", offsetof(pn_http_transfer, location)},
                {"content-type:", offsetof(pn_http_transfer, content_type)}};
  for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
    size_t name_length = strlen(wanted[i].name);
    if (length <= name_length || strncasecmp(bytes, wanted[i].name, name_length) != 0)
      continue;
    const char *value = bytes + name_length;
    size_t value_length = length - name_length;
    while (value_length && (*value == ' ' || *value == '\t')) {
      value++;
      value_length--;
    }
    while (value_length && (value[value_length - 1] == '\r' || value[value_length - 1] == '\n'))
      value_length--;
    char **slot = (char **)((char *)transfer + wanted[i].offset);
    pn_free(*slot);
    *slot = pn_strndup(value, value_length);
  }
  return length;
}

static void check_finished(pn_http_client *client) {
  CURLMsg *message;
  int left = 0;
  while ((message = curl->multi_info_read(client->multi, &left))) {
    if (message->msg != CURLMSG_DONE)
      continue;
    pn_http_transfer *transfer = NULL;
    curl->easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&transfer);
    CURLcode code = message->data.result;
    if (transfer->download) {
      if (fclose(transfer->download) != 0 && code == CURLE_OK)
        code = CURLE_WRITE_ERROR;
      transfer->download = NULL;
    }
    pn_http_response response = {0};
    response.ok = code == CURLE_OK;
    curl->easy_getinfo(transfer->easy, CURLINFO_RESPONSE_CODE, &response.status);
    curl->easy_getinfo(transfer->easy, CURLINFO_TOTAL_TIME, &response.seconds);
    char *effective = NULL;
    curl->easy_getinfo(transfer->easy, CURLINFO_EFFECTIVE_URL, &effective);
    response.effective_url = effective;
    response.location = transfer->location;
    response.content_type = transfer->content_type;
    response.body = transfer->download_path ? NULL : &transfer->response;
    response.bytes = transfer->received;
    char error[CURL_ERROR_SIZE + 64];
    if (!response.ok) {
      if (transfer->too_big || code == CURLE_FILESIZE_EXCEEDED)
        snprintf(error, sizeof error, "the response is larger than the limit of %zu bytes",
                 transfer->max_response);
      else if (code == CURLE_TOO_MANY_REDIRECTS)
        snprintf(error, sizeof error, "more than %d redirects", PN_HTTP_MAX_REDIRECTS);
      else
        snprintf(error, sizeof error, "%s",
                 transfer->error[0] ? transfer->error : curl->easy_strerror(code));
      response.error = error;
    }
    unlink_transfer(transfer);
    if (transfer->done)
      transfer->done(&response, transfer->arg);
    free_transfer(transfer);
  }
}

/* Sets an option on the transfer's handle; a refused option fails the transfer
 * (logged with the option's name and libcurl's reason), never silently: a download
 * must not run without its limits on protocols, redirects, sizes and time. */
#define SET_OPTION(easy, option, value)                                                        \
  do {                                                                                         \
    CURLcode refused = curl->easy_setopt(easy, option, value);                                 \
    if (refused != CURLE_OK) {                                                                 \
      pn_error("libcurl refused " #option ": %s", curl->easy_strerror(refused));               \
      return PN_EUNSUPPORTED;                                                                  \
    }                                                                                          \
  } while (0)

/* The limits every transfer runs under: protocols, redirects, time, size. */
static int set_limits(pn_http_transfer *transfer, const pn_http_request *request) {
  CURL *easy = transfer->easy;
#if LIBCURL_VERSION_NUM >= 0x075500
  SET_OPTION(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  SET_OPTION(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  /* libcurl before 7.85 (Debian 11, Ubuntu 22.04: bases pinion is compiled on in
   * images) has only the bitmask form. */
  SET_OPTION(easy, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  SET_OPTION(easy, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  SET_OPTION(easy, CURLOPT_FOLLOWLOCATION, request->follow_redirects ? 1L : 0L);
  SET_OPTION(easy, CURLOPT_MAXREDIRS,
             request->follow_redirects ? (long)PN_HTTP_MAX_REDIRECTS : 0L);
  SET_OPTION(easy, CURLOPT_CONNECTTIMEOUT_MS,
             request->connect_timeout_ms ? request->connect_timeout_ms : 10000L);
  if (request->timeout_ms)
    SET_OPTION(easy, CURLOPT_TIMEOUT_MS, request->timeout_ms);
  if (request->low_speed_timeout_s) {
    SET_OPTION(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET_OPTION(easy, CURLOPT_LOW_SPEED_TIME, request->low_speed_timeout_s);
  }
  /* A declared length past the ceiling fails before the body comes; the write
   * callback counts the bytes after decompression, which this cannot see. */
  SET_OPTION(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)transfer->max_response);
  return 0;
}

static int on_transfer_progress(void *arg, curl_off_t down_total, curl_off_t down_now,
                                curl_off_t up_total, curl_off_t up_now) {
  pn_http_transfer *transfer = arg;
  pn_http_client *client = transfer->client;
  if (client->progress) {
    pn_http_progress progress = {transfer->url, (uint64_t)down_now, (uint64_t)down_total,
                                 (uint64_t)up_now, (uint64_t)up_total};
    client->progress(&progress, client->progress_arg);
  }
  return 0;
}

void pn_http_client_on_progress(pn_http_client *client, pn_http_progress_fn progress, void *arg) {
  client->progress = progress;
  client->progress_arg = arg;
}

int pn_http_client_route_unix(pn_http_client *client, const char *origin,
                              const char *socket_path) {
  char *copied_origin = origin ? pn_strdup(origin) : NULL;
  char *copied_socket = origin ? pn_strdup(socket_path) : NULL;
  if (origin && (!copied_origin || !copied_socket)) {
    pn_free(copied_origin);
    pn_free(copied_socket);
    return PN_ENOMEM;
  }
  pn_free(client->route_origin);
  pn_free(client->route_socket);
  client->route_origin = copied_origin;
  client->route_socket = copied_socket;
  return 0;
}

/* The unix socket a request connects through: its own, or the client's route when the
 * URL is of the route's origin; NULL: the network. */
static const char *unix_socket_of(const pn_http_client *client, const pn_http_request *request) {
  if (request->unix_socket)
    return request->unix_socket;
  if (!client->route_origin || !request->url)
    return NULL;
  size_t length = strlen(client->route_origin);
  if (strncmp(request->url, client->route_origin, length) != 0)
    return NULL;
  char next = request->url[length];
  return next == '\0' || next == '/' || next == '?' ? client->route_socket : NULL;
}

static int prepare(pn_http_transfer *transfer, const pn_http_request *request) {
  CURL *easy = transfer->easy;
  transfer->url = pn_strdup(request->url);
  transfer->method = pn_strdup(request->method ? request->method : "GET");
  transfer->user_agent = request->user_agent ? pn_strdup(request->user_agent)
                                             : pn_strfmt("pinion/%s", PINION_VERSION);
  if (!transfer->url || !transfer->method || !transfer->user_agent)
    return PN_ENOMEM;
  for (size_t i = 0; request->headers && request->headers[i]; i++) {
    struct curl_slist *headers = curl->slist_append(transfer->headers, request->headers[i]);
    if (!headers)
      return PN_ENOMEM;
    transfer->headers = headers;
  }
  /* No "Expect: 100-continue" round trip before uploads. */
  struct curl_slist *headers = curl->slist_append(transfer->headers, "Expect:");
  if (!headers)
    return PN_ENOMEM;
  transfer->headers = headers;
  int rc = set_limits(transfer, request);
  if (rc < 0)
    return rc;
  SET_OPTION(easy, CURLOPT_URL, transfer->url);
  const char *unix_socket = unix_socket_of(transfer->client, request);
  if (unix_socket) /* libcurl copies it */
    SET_OPTION(easy, CURLOPT_UNIX_SOCKET_PATH, unix_socket);
  SET_OPTION(easy, CURLOPT_PRIVATE, transfer);
  SET_OPTION(easy, CURLOPT_ERRORBUFFER, transfer->error);
  SET_OPTION(easy, CURLOPT_NOSIGNAL, 1L);
  SET_OPTION(easy, CURLOPT_HTTPHEADER, transfer->headers);
  SET_OPTION(easy, CURLOPT_USERAGENT, transfer->user_agent);
  SET_OPTION(easy, CURLOPT_WRITEFUNCTION, on_body);
  SET_OPTION(easy, CURLOPT_WRITEDATA, transfer);
  SET_OPTION(easy, CURLOPT_HEADERFUNCTION, on_header);
  SET_OPTION(easy, CURLOPT_HEADERDATA, transfer);
  /* Compressed bodies are decoded, as Cog's client does; on_body counts the decoded
   * bytes against max_response, so a small gzip bomb stops at the ceiling. */
  SET_OPTION(easy, CURLOPT_ACCEPT_ENCODING, "");
  if (transfer->client->progress) {
    SET_OPTION(easy, CURLOPT_XFERINFOFUNCTION, on_transfer_progress);
    SET_OPTION(easy, CURLOPT_XFERINFODATA, transfer);
    SET_OPTION(easy, CURLOPT_NOPROGRESS, 0L);
  }
  if (request->upload_path) {
    transfer->upload = fopen(request->upload_path, "rb");
    if (!transfer->upload)
      return PN_ENOENT;
    fseek(transfer->upload, 0, SEEK_END);
    long size = ftell(transfer->upload);
    rewind(transfer->upload);
    SET_OPTION(easy, CURLOPT_UPLOAD, 1L);
    SET_OPTION(easy, CURLOPT_READDATA, transfer->upload);
    SET_OPTION(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
  } else if (request->body) {
    transfer->body = pn_malloc(request->body_length);
    if (!transfer->body)
      return PN_ENOMEM;
    memcpy(transfer->body, request->body, request->body_length);
    SET_OPTION(easy, CURLOPT_POSTFIELDS, transfer->body);
    SET_OPTION(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)request->body_length);
  }
  if (strcmp(transfer->method, "GET") == 0 && !request->body && !request->upload_path)
    SET_OPTION(easy, CURLOPT_HTTPGET, 1L);
  else if (strcmp(transfer->method, "HEAD") == 0)
    SET_OPTION(easy, CURLOPT_NOBODY, 1L);
  else
    SET_OPTION(easy, CURLOPT_CUSTOMREQUEST, transfer->method);
  if (request->download_path) {
    transfer->download_path = pn_strdup(request->download_path);
    transfer->download = fopen(request->download_path, "wb");
    if (!transfer->download_path || !transfer->download)
      return PN_EIO;
  }
  return 0;
}

int pn_http_client_send(pn_http_client *client, const pn_http_request *request,
                        pn_http_done_fn done, void *arg, pn_http_transfer **out) {
  if (out)
    *out = NULL;
  const char *load_error = NULL;
  int loaded = ensure_multi(client, &load_error);
  if (loaded < 0) {
    pn_error("%s", load_error);
    return loaded;
  }
  pn_http_transfer *transfer = pn_calloc(1, sizeof *transfer);
  if (!transfer)
    return PN_ENOMEM;
  transfer->client = client;
  transfer->done = done;
  transfer->arg = arg;
  transfer->max_response = request->max_response ? request->max_response : DEFAULT_MAX_RESPONSE;
  pn_buf_init(&transfer->response, transfer->max_response);
  transfer->easy = curl->easy_init();
  int rc = transfer->easy ? prepare(transfer, request) : PN_ENOMEM;
  if (rc == 0 && curl->multi_add_handle(client->multi, transfer->easy) != CURLM_OK)
    rc = PN_EIO;
  if (rc < 0) {
    if (transfer->easy) {
      curl->easy_cleanup(transfer->easy);
      transfer->easy = NULL;
    }
    free_transfer(transfer);
    return rc;
  }
  transfer->next = client->transfers;
  if (client->transfers)
    client->transfers->prev = transfer;
  client->transfers = transfer;
  client->active++;
  if (out)
    *out = transfer;
  return 0;
}

void pn_http_transfer_cancel(pn_http_transfer *transfer) {
  if (!transfer)
    return;
  unlink_transfer(transfer);
  free_transfer(transfer);
}

size_t pn_http_client_active(const pn_http_client *client) { return client->active; }
