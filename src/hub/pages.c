/* The hub's pages. They are static files (web/, embedded by scripts/embed-web) that
 * draw themselves from the /v1 API in the browser, so the server's part is small: one
 * shell page for every page path (the model list, /{owner}/{name}, /p/{id},
 * /predictions, /deployments, /tokens), sign-in and sign-out, the static files, the
 * README images from a version's folder (hub/readme_images.c), and the token list the
 * tokens page shows (tokens are no part of Replicate's API).
 *
 * Signing in turns an API token into a session (hub/sessions.c): the cookie holds the
 * session's random id, never the token, HttpOnly keeps it from scripts and
 * SameSite=Strict keeps other sites' forms from sending it. The shell page carries the
 * session's CSRF token in a <meta> tag, which app.js sends back as X-CSRF-Token on
 * every call; a cookie without it serves pages only. See pages.h. */
#include "hub/pages.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "core/error.h"
#include "hub/ids.h"
#include "hub/readme_images.h"
#include "hub/sessions.h"
#include "web/web.h"

#include <stdlib.h>
#include <string.h>

#define LOGIN_FORM_MAX 4096

static int is_method(pn_hub_request *request, enum evhttp_cmd_type method) {
  return evhttp_request_get_command(request->request) == method;
}

/* An embedded file as it is with `status`, or 404. */
static void send_asset_status(pn_hub_request *request, int status, const char *path,
                              const char *cache) {
  const unsigned char *bytes = NULL;
  size_t length = 0;
  const char *type = NULL;
  if (pn_web_asset(path, &bytes, &length, &type) < 0) {
    pn_hub_problem(request, 404, NULL, "There is no file at /static/%s.", path);
    return;
  }
  pn_hub_header(request, "Cache-Control", cache);
  pn_hub_header(request, "X-Content-Type-Options", "nosniff");
  if (strncmp(type, "text/html", 9) == 0)
    pn_hub_header(request, "Content-Security-Policy", PN_WEB_CSP);
  pn_hub_reply_bytes(request, status, type, bytes, length);
}

static void send_asset(pn_hub_request *request, const char *path, const char *cache) {
  send_asset_status(request, 200, path, cache);
}

/* A path that is no page: a page saying so to a browser, problem+json to programs. */
static void not_found(pn_hub_request *request) {
  const char *accept = pn_hub_request_header(request, "Accept");
  if (accept && strstr(accept, "text/html"))
    send_asset_status(request, 404, "notfound.html", "no-cache");
  else
    pn_hub_problem(request, 404, NULL, "There is no page at %s.", request->path);
}

static void redirect(pn_hub_request *request, const char *location) {
  pn_hub_header(request, "Location", location);
  pn_hub_header(request, "Cache-Control", "no-store");
  pn_hub_reply_empty(request, 303);
}

/* `text` with HTML's five special characters escaped, appended to `out`. */
static void append_escaped(pn_buf *out, const char *text) {
  for (; *text; text++) {
    switch (*text) {
    case '<':
      pn_buf_append(out, "&lt;", 4);
      break;
    case '>':
      pn_buf_append(out, "&gt;", 4);
      break;
    case '&':
      pn_buf_append(out, "&amp;", 5);
      break;
    case '"':
      pn_buf_append(out, "&quot;", 6);
      break;
    case '\'':
      pn_buf_append(out, "&#39;", 5);
      break;
    default:
      pn_buf_append(out, text, 1);
    }
  }
}

/* A page destination that stays on this site: a path, not "//host" or a URL. */
static const char *safe_next(const char *next) {
  return next && next[0] == '/' && next[1] != '/' && next[1] != '\\' ? next : "/";
}

/* web/login.html with its two markers filled: an error paragraph and the page to go
 * to after signing in. */
static void login_page(pn_hub_request *request, int status, const char *error, const char *next) {
  const unsigned char *bytes = NULL;
  size_t length = 0;
  const char *type = NULL;
  if (pn_web_asset("login.html", &bytes, &length, &type) < 0) {
    pn_hub_problem(request, 500, NULL, "The sign-in page is missing from this build.");
    return;
  }
  static const char error_marker[] = "<!--error-->", next_marker[] = "<!--next-->";
  const char *text = (const char *)bytes;
  const char *at_error = strstr(text, error_marker);
  const char *at_next = strstr(text, next_marker);
  pn_buf page;
  pn_buf_init(&page, 1u << 20);
  if (!at_error || !at_next || at_next < at_error) {
    pn_buf_append(&page, text, length);
  } else {
    pn_buf_append(&page, text, (size_t)(at_error - text));
    if (error) {
      pn_buf_append_str(&page, "<p class=\"form-error\" role=\"alert\">");
      append_escaped(&page, error);
      pn_buf_append_str(&page, "</p>");
    }
    const char *after_error = at_error + sizeof error_marker - 1;
    pn_buf_append(&page, after_error, (size_t)(at_next - after_error));
    append_escaped(&page, safe_next(next));
    const char *rest = at_next + sizeof next_marker - 1;
    pn_buf_append(&page, rest, length - (size_t)(rest - text));
  }
  pn_hub_header(request, "Cache-Control", "no-store");
  pn_hub_header(request, "Content-Security-Policy", PN_WEB_CSP);
  pn_hub_reply_bytes(request, status, type, page.data, page.length);
  pn_buf_free(&page);
}

/* The value of `name` in an application/x-www-form-urlencoded body, decoded and
 * pn_malloc'd; NULL when absent. */
static char *form_value(const char *body, size_t length, const char *name) {
  size_t name_length = strlen(name);
  const char *end = body + length;
  for (const char *field = body; field < end;) {
    const char *amp = memchr(field, '&', (size_t)(end - field));
    const char *stop = amp ? amp : end;
    if ((size_t)(stop - field) > name_length && strncmp(field, name, name_length) == 0 &&
        field[name_length] == '=') {
      pn_buf value;
      pn_buf_init(&value, LOGIN_FORM_MAX);
      const char *start = field + name_length + 1;
      if (pn_percent_decode(start, (size_t)(stop - start), 1, &value) < 0) {
        pn_buf_free(&value);
        return NULL;
      }
      return value.data ? pn_buf_take(&value) : pn_strdup("");
    }
    field = stop + 1;
  }
  return NULL;
}

static void login_post(pn_hub_request *request) {
  const char *body = (const char *)request->body;
  size_t length = request->body_length < LOGIN_FORM_MAX ? request->body_length : 0;
  char *token = body ? form_value(body, length, "token") : NULL;
  char *next = body ? form_value(body, length, "next") : NULL;
  char *session_id = NULL, *account = NULL;
  int rc = pn_hub_session_create(request->hub, token, &session_id, &account);
  if (rc == PN_ENOENT) {
    login_page(
        request, 401,
        "That token is not valid here. Check it, or make one with `pinion hub token create`.",
        next);
  } else if (rc < 0) {
    pn_hub_store_failed(request, rc, "signing in");
  } else {
    /* Behind TLS (an https public URL) the browser must never send it in the clear. */
    int secure = strncmp(request->hub->public_url, "https://", 8) == 0;
    char *cookie =
        pn_strfmt("%s=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%ld%s", PN_HUB_SESSION_COOKIE,
                  session_id, pn_hub_session_lifetime(), secure ? "; Secure" : "");
    if (cookie)
      pn_hub_header(request, "Set-Cookie", cookie);
    pn_free(cookie);
    redirect(request, safe_next(next));
  }
  pn_free(session_id);
  pn_free(account);
  pn_free(next);
  pn_free(token);
}

static void logout(pn_hub_request *request) {
  char *session_id = pn_hub_session_cookie(request->request);
  pn_hub_session_end(request->hub, session_id);
  pn_free(session_id);
  pn_hub_header(request, "Set-Cookie",
                PN_HUB_SESSION_COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
  redirect(request, "/login");
}

/* web/hub.html with the session's CSRF token in its <meta name="csrf-token">, for
 * app.js to send with its API calls. Nothing caches it: it belongs to one session. */
static void shell_page(pn_hub_request *request) {
  const unsigned char *bytes = NULL;
  size_t length = 0;
  const char *type = NULL;
  if (pn_web_asset("hub.html", &bytes, &length, &type) < 0) {
    pn_hub_problem(request, 500, NULL, "The page shell is missing from this build.");
    return;
  }
  static const char marker[] = "<!--csrf-->";
  const char *text = (const char *)bytes;
  const char *at = strstr(text, marker);
  char csrf[65] = "";
  char *session_id = pn_hub_session_cookie(request->request);
  if (session_id && pn_hub_session_csrf(request->hub, session_id, csrf) < 0)
    csrf[0] = '\0';
  pn_free(session_id);
  pn_buf page;
  pn_buf_init(&page, 1u << 20);
  if (!at) {
    pn_buf_append(&page, text, length);
  } else {
    pn_buf_append(&page, text, (size_t)(at - text));
    pn_buf_append_str(&page, csrf);
    const char *rest = at + sizeof marker - 1;
    pn_buf_append(&page, rest, length - (size_t)(rest - text));
  }
  pn_hub_header(request, "Cache-Control", "no-store");
  pn_hub_header(request, "X-Content-Type-Options", "nosniff");
  pn_hub_header(request, "Content-Security-Policy", PN_WEB_CSP);
  pn_hub_reply_bytes(request, 200, type, page.data, page.length);
  pn_buf_free(&page);
}

/* The page paths the shell draws: /, /predictions, /deployments, /tokens, /p/{id} and
 * /{owner}/{name}. */
static int is_page(const char *path) {
  if (strcmp(path, "/") == 0 || strcmp(path, "/predictions") == 0 ||
      strcmp(path, "/deployments") == 0 || strcmp(path, "/tokens") == 0)
    return 1;
  const char *second = strchr(path + 1, '/');
  return second && second > path + 1 && second[1] && !strchr(second + 1, '/');
}

/* --- /session/tokens: the tokens page's calls ------------------------------------- */

/* The account's tokens as a new array, or NULL when the store failed (*rc says how). */
static json_t *tokens_of(pn_hub_request *request, const char *account, int *rc) {
  json_t *all = NULL;
  *rc = pn_store_token_list(request->hub->store, &all);
  if (*rc < 0)
    return NULL;
  json_t *mine = json_array();
  size_t index;
  json_t *token;
  json_array_foreach(all, index, token) {
    const char *owner = json_string_value(json_object_get(token, "account"));
    if (owner && strcmp(owner, account) == 0)
      json_array_append(mine, token);
  }
  json_decref(all);
  return mine;
}

static void tokens_list(pn_hub_request *request, const char *account) {
  int rc = 0;
  json_t *mine = tokens_of(request, account, &rc);
  if (!mine)
    pn_hub_store_failed(request, rc, "listing tokens");
  else
    pn_hub_reply(request, 200, mine);
}

static void tokens_create(pn_hub_request *request, const char *account) {
  json_t *body = pn_hub_body_object(request);
  if (!body)
    return;
  const char *name = json_string_value(json_object_get(body, "name"));
  char now[40], text[PN_HUB_TOKEN_SIZE], hash[65], id[27];
  pn_hub_now(now);
  int rc = pn_hub_token_new(PN_HUB_TOKEN_PREFIX, text);
  if (rc == 0)
    rc = pn_crypto_sha256_hex(text, strlen(text), hash);
  if (rc == 0)
    rc = pn_hub_id_random(id);
  if (rc == 0) {
    id[12] = '\0'; /* the same short public id as `pinion hub token create` */
    rc = pn_store_token_add(request->hub->store, id, hash, account, name && *name ? name : NULL,
                            now);
  }
  if (rc < 0)
    pn_hub_store_failed(request, rc, "creating a token");
  else
    pn_hub_reply(request, 201,
                 json_pack("{s:s, s:s, s:s?, s:s}", "id", id, "token", text, "name",
                           name && *name ? name : NULL, "created_at", now));
  json_decref(body);
}

static void tokens_revoke(pn_hub_request *request, const char *account, const char *id) {
  int rc = 0;
  json_t *mine = tokens_of(request, account, &rc);
  if (!mine) {
    pn_hub_store_failed(request, rc, "listing tokens");
    return;
  }
  int owned = 0;
  size_t index;
  json_t *token;
  json_array_foreach(mine, index, token) {
    const char *token_id = json_string_value(json_object_get(token, "id"));
    owned |= token_id && strcmp(token_id, id) == 0;
  }
  json_decref(mine);
  rc = owned ? pn_store_token_revoke(request->hub->store, id) : PN_ENOENT;
  if (rc == PN_ENOENT)
    pn_hub_problem(request, 404, NULL, "You have no token with the id %s.", id);
  else if (rc < 0)
    pn_hub_store_failed(request, rc, "revoking a token");
  else
    pn_hub_reply(request, 200, json_pack("{s:s, s:b}", "id", id, "revoked", 1));
}

static void session_call(pn_hub_request *request, const char *account) {
  static const char prefix[] = "/session/tokens/";
  const char *path = request->path;
  size_t prefix_length = sizeof prefix - 1;
  if (strcmp(path, "/session/tokens") == 0) {
    if (is_method(request, EVHTTP_REQ_GET))
      tokens_list(request, account);
    else if (is_method(request, EVHTTP_REQ_POST))
      tokens_create(request, account);
    else
      pn_hub_problem(request, 405, NULL, "%s takes GET or POST.", path);
    return;
  }
  const char *id = path + prefix_length;
  const char *slash = strncmp(path, prefix, prefix_length) == 0 ? strchr(id, '/') : NULL;
  if (!slash || slash == id || strcmp(slash, "/revoke") != 0) {
    pn_hub_problem(request, 404, NULL, "There is nothing at %s.", path);
  } else if (!is_method(request, EVHTTP_REQ_POST)) {
    pn_hub_problem(request, 405, NULL, "%s takes POST.", path);
  } else {
    char *token_id = pn_strndup(id, (size_t)(slash - id));
    if (token_id)
      tokens_revoke(request, account, token_id);
    pn_free(token_id);
  }
}

/* --- the entry point ---------------------------------------------------------------- */

void pn_hub_pages_serve(pn_hub_request *request) {
  const char *path = request->path;
  int get = is_method(request, EVHTTP_REQ_GET) || is_method(request, EVHTTP_REQ_HEAD);
  if (strncmp(path, "/static/", 8) == 0) {
    if (get)
      send_asset(request, path + 8, "max-age=300");
    else
      pn_hub_problem(request, 405, NULL, "%s takes GET.", path);
    return;
  }
  if (strcmp(path, "/login") == 0) {
    if (is_method(request, EVHTTP_REQ_POST))
      login_post(request);
    else
      login_page(request, 200, NULL, pn_hub_query(request, "next"));
    return;
  }
  if (strcmp(path, "/logout") == 0) {
    logout(request);
    return;
  }
  char *account = NULL;
  enum pn_hub_auth how = pn_hub_authenticate(request->hub, request->request, &account);
  if (how == PN_HUB_AUTH_UNAVAILABLE) {
    pn_hub_store_failed(request, pn_store_failure_code(request->hub->store),
                        "checking the session");
  } else if (strncmp(path, "/session/", 9) == 0) {
    if (how == PN_HUB_AUTH_COOKIE_ONLY)
      pn_hub_problem(request, 403, NULL,
                     "The session cookie alone does not authorize this call: send the page's "
                     "X-CSRF-Token header with it.");
    else if (account)
      session_call(request, account);
    else
      pn_hub_problem(request, 401, "Unauthenticated", "Sign in at /login first.");
  } else if (pn_hub_readme_image_path(path)) {
    /* An <img> sends the cookie without X-CSRF-Token; reading an image is no change. */
    request->account = account;
    pn_hub_readme_image_serve(request);
    request->account = NULL;
  } else if (!is_page(path)) {
    not_found(request);
  } else if (!get) {
    pn_hub_problem(request, 405, NULL, "%s takes GET.", path);
  } else if (!account) {
    pn_buf location;
    pn_buf_init(&location, 1u << 16);
    pn_buf_append_str(&location, "/login?next=");
    const char *raw = evhttp_request_get_uri(request->request);
    char *escaped = evhttp_encode_uri(raw ? raw : path);
    pn_buf_append_str(&location, escaped ? escaped : "/");
    free(escaped);
    redirect(request, location.data);
    pn_buf_free(&location);
  } else {
    shell_page(request);
  }
  pn_free(account);
}
