/* Files: uploads (`POST /v1/files`, multipart), their metadata, deletion, signed
 * downloads, and the instances' output uploads (`PUT /internal/uploads/<token>/<name>`).
 *
 * Bytes live once, content-addressed, in the blob store (hub/blobs.h: a folder,
 * DATA/blobs/<first two hex>/<sha256>, that replicas share); a file row points at its
 * blob. Downloads are `GET /v1/files/{id}/download?owner=&
 * expiry=&signature=`, the signature being base64 HMAC-SHA256 of "<owner> <id>
 * <expiry>" under DATA/secret. Output files of instances are served at
 * `/v1/outputs/<id>.<HMAC>/<name>`. Neither needs credentials, as output URLs must not.
 *
 * Uploaded files expire (`expires_at`, 24 h or PINION_FILE_LIFETIME seconds): from then
 * on they are not found, and a sweep every few minutes deletes their rows; a blob goes
 * when no file row points at it any more. Output files stay with their predictions, and
 * so does an upload once a prediction takes it as an input (pn_hub_file_keep), so that
 * the prediction page can show it for as long as it shows the prediction. The owner may
 * also download a file with its credentials instead of a signature. */
#include "hub/hub.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "core/env.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/http_range.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/mime.h"
#include "core/pool.h"
#include "hub/blobs.h"
#include "hub/ids.h"
#include "hub/multipart.h"
#include "hub/objects.h"
#include "hub/stream.h"

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE_MAX ((size_t)100 * 1024 * 1024)
#define FILE_LIFETIME_SECONDS (24 * 3600)
/* Bytes of a file's name that a signed URL carries: model servers keep at most 200 (as
 * Cog does), and a longer segment would pass the route's bound on segments. */
#define URL_FILE_NAME_MAX 200
#define OUTPUTS_OWNER "outputs"
#define SWEEP_PAGES_MAX 20

long pn_hub_file_lifetime(void) {
  return (long)pn_env_number("PINION_FILE_LIFETIME", "seconds", 1, 1e9, FILE_LIFETIME_SECONDS);
}

/* Whether an uploaded file's `expires_at` has passed (outputs never expire). */
static int file_expired(const json_t *file) {
  const char *expires = json_string_value(json_object_get(file, "expires_at"));
  const char *owner = json_string_value(json_object_get(file, "account"));
  if (!expires || (owner && strcmp(owner, OUTPUTS_OWNER) == 0))
    return 0;
  char now[40];
  pn_clock_format(pn_clock_realtime_ns(), 0, now, sizeof now);
  return strcmp(expires, now) <= 0;
}

static const char *text_of(const json_t *row, const char *name) {
  return json_string_value(json_object_get(row, name));
}

/* Whether some file row points at blob `arg` (a sha256): 1, 0, or < 0 when the store
 * could not say. */
static int blob_wanted(void *hub, const void *arg) {
  pn_store_query query = {.search = arg, .limit = 1};
  json_t *rows = NULL;
  int more = 0;
  int rc = pn_store_list(((pn_hub *)hub)->store, PN_STORE_FILES, &query, &rows, &more);
  size_t remaining = rc == 0 ? json_array_size(rows) : 0;
  json_decref(rows);
  return rc < 0 ? rc : remaining > 0;
}

/* Deletes the blob once no file row points at it any more. The store is asked twice,
 * before and after the blob is set aside (pn_hub_blob_delete_unless), so that a replica
 * recording a new file with the same bytes meanwhile keeps it (see blob_kept). */
static void release_blob(pn_hub *hub, const char *sha256) {
  if (!sha256 || strlen(sha256) != 64 || blob_wanted(hub, sha256) != 0)
    return;
  if (pn_hub_blob_delete_unless(hub->data_dir, sha256, blob_wanted, hub) < 0)
    pn_warn("could not delete the blob %s: %s", sha256, strerror(errno));
}

/* Deletes a file row and, when it was the last to point at it, its blob. */
static int delete_file(pn_hub *hub, const json_t *file) {
  int rc = pn_store_delete(hub->store, PN_STORE_FILES, text_of(file, "id"));
  if (rc == 0)
    release_blob(hub, text_of(file, "sha256"));
  return rc;
}

/* Deletes the expired files of one account; returns how many. */
static int sweep_account(pn_hub *hub, const char *account, const char *cutoff) {
  int deleted = 0;
  char after_created_at[40] = "", after_id[40] = "";
  for (int page = 0; page < SWEEP_PAGES_MAX; page++) {
    pn_store_query query = {.account = account, .created_before = cutoff, .ascending = 1,
                            .limit = 100};
    if (*after_id) {
      query.after_created_at = after_created_at;
      query.after_id = after_id;
    }
    json_t *rows = NULL;
    int more = 0;
    if (pn_store_list(hub->store, PN_STORE_FILES, &query, &rows, &more) < 0)
      break;
    size_t index;
    json_t *row;
    json_array_foreach(rows, index, row) {
      snprintf(after_created_at, sizeof after_created_at, "%s", text_of(row, "created_at"));
      snprintf(after_id, sizeof after_id, "%s", text_of(row, "id"));
      if (file_expired(row) && delete_file(hub, row) == 0)
        deleted++;
    }
    json_decref(rows);
    if (!more)
      break;
  }
  return deleted;
}

/* What writers of blobs that died left (a replica killed mid-write), swept on the pool:
 * it reads every folder of blobs. */
typedef struct leftovers_job {
  char *data_dir;
  int removed;
} leftovers_job;

static void sweep_leftovers_work(void *arg) {
  leftovers_job *job = arg;
  job->removed =
      pn_hub_blob_sweep_leftovers(job->data_dir, time(NULL) - PN_HUB_BLOB_LEFTOVER_SECONDS);
}

static void sweep_leftovers_done(void *arg, int canceled) {
  leftovers_job *job = arg;
  if (!canceled && job->removed > 0)
    pn_info("removed %d half-written or half-deleted blob file%s left by a hub that died",
            job->removed, job->removed == 1 ? "" : "s");
  else if (!canceled && job->removed < 0)
    pn_warn("could not look for leftover blob files in %s/blobs: %s", job->data_dir,
            pn_strerror(job->removed));
  pn_free(job->data_dir);
  pn_free(job);
}

static void sweep_blob_leftovers(pn_hub *hub) {
  leftovers_job *job = pn_calloc(1, sizeof *job);
  if (job && (job->data_dir = pn_strdup(hub->data_dir)) &&
      pn_hub_pool_submit(hub, sweep_leftovers_work, sweep_leftovers_done, job) == 0)
    return; /* a busy pool: the next sweep */
  if (job)
    pn_free(job->data_dir);
  pn_free(job);
}

int pn_hub_files_sweep(pn_hub *hub) {
  sweep_blob_leftovers(hub);
  /* Uploads belong to the accounts that have tokens; output files are not swept. */
  json_t *tokens = NULL;
  if (pn_store_token_list(hub->store, &tokens) < 0)
    return 0;
  char cutoff[40];
  uint64_t lifetime_ns = (uint64_t)pn_hub_file_lifetime() * 1000000000u;
  uint64_t now = pn_clock_realtime_ns();
  pn_clock_format(now > lifetime_ns ? now - lifetime_ns : 0, 0, cutoff, sizeof cutoff);
  int deleted = 0;
  size_t index;
  json_t *token;
  json_array_foreach(tokens, index, token) {
    const char *account = text_of(token, "account");
    int seen = 0;
    for (size_t earlier = 0; account && earlier < index && !seen; earlier++) {
      const char *other = text_of(json_array_get(tokens, earlier), "account");
      seen = other && strcmp(other, account) == 0;
    }
    if (account && !seen && strcmp(account, OUTPUTS_OWNER) != 0)
      deleted += sweep_account(hub, account, cutoff);
  }
  json_decref(tokens);
  if (deleted)
    pn_info("deleted %d expired file%s", deleted, deleted == 1 ? "" : "s");
  return deleted;
}

/* A file being stored. Its body is pulled into one piece, parsed, hashed and written
 * as a blob on the hub's pool (100 MB take a good part of a second); its row is
 * recorded, and the request answered, back on the loop. */
typedef struct file_job {
  pn_hub *hub;
  struct evhttp_request *request;
  struct evbuffer *body; /* the request's body, taken from it (pn_hub_body_take) */
  char *account;
  char *name, *type;  /* known on the loop (outputs), or read from the upload */
  char *content_type; /* the request's, for multipart */
  json_t *metadata;   /* or NULL */
  const void *bytes;  /* the file's bytes, inside `body` once pulled */
  size_t length;
  char sha256[65], md5[33];
  int rc;
  int refused;   /* an HTTP status when the upload itself was wrong */
  char *problem; /* and why */
  void (*read)(struct file_job *job);
  void (*answer)(struct file_job *job, pn_hub_request *reply, json_t *file);
} file_job;

static void file_job_free(file_job *job) {
  if (job->body)
    evbuffer_free(job->body);
  pn_free(job->account);
  pn_free(job->name);
  pn_free(job->type);
  pn_free(job->content_type);
  pn_free(job->problem);
  json_decref(job->metadata);
  pn_free(job);
}

static void refuse_upload(file_job *job, int status, const char *problem) {
  job->refused = status;
  job->problem = pn_strdup(problem);
}

/* The body in one piece: the whole of it is the file. */
static void read_whole_body(file_job *job) {
  job->length = evbuffer_get_length(job->body);
  job->bytes = evbuffer_pullup(job->body, -1);
}

/* On the pool: touches only the job's own body and DATA/blobs. */
static void store_blob(void *arg) {
  file_job *job = arg;
  job->read(job);
  if (job->refused)
    return;
  job->rc = pn_crypto_sha256_hex(job->bytes ? job->bytes : "", job->length, job->sha256);
  if (job->rc == 0)
    job->rc = pn_crypto_md5_hex(job->bytes ? job->bytes : "", job->length, job->md5);
  if (job->rc == 0)
    job->rc = pn_hub_blob_write(job->hub->data_dir, job->sha256, job->bytes ? job->bytes : "", job->length);
}

/* The file row of a stored blob; *file is a new reference. */
static int record_file(file_job *job, json_t **file) {
  *file = NULL;
  char id[27], now[40], expires[40];
  int rc = pn_hub_id_random(id);
  if (rc < 0)
    return rc;
  uint64_t created = (uint64_t)time(NULL);
  pn_hub_now(now);
  time_t expiry = (time_t)(created + (uint64_t)pn_hub_file_lifetime());
  struct tm utc;
  gmtime_r(&expiry, &utc);
  strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%S.000000Z", &utc);
  json_t *meta = job->metadata ? json_incref(job->metadata) : json_object();
  json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:s, s:s}", "id", id,
                          "account", job->account, "name", job->name, "content_type", job->type,
                          "size", (json_int_t)job->length, "sha256", job->sha256, "md5", job->md5,
                          "metadata", meta, "created_at", now, "expires_at", expires);
  if (!row)
    return PN_ENOMEM;
  pn_store_keys keys = {.id = id, .account = job->account, .created_at = now};
  rc = pn_store_insert(job->hub->store, PN_STORE_FILES, &keys, row);
  if (rc < 0) {
    json_decref(row);
    return rc;
  }
  *file = row;
  return 0;
}

/* Once its row is recorded, a blob stays (release_blob finds the row). Between the
 * pool's write and the row, a sweep (here, or on a replica sharing the data folder) may
 * have deleted the blob of an expired file with the same bytes: then it is written again,
 * here on the loop, which happens about never. */
static int blob_kept(file_job *job) {
  if (pn_hub_blob_exists(job->hub->data_dir, job->sha256))
    return 0;
  pn_warn("the blob of an upload was deleted by a sweep before its row was recorded; "
          "writing it again");
  return pn_hub_blob_write(job->hub->data_dir, job->sha256, job->bytes ? job->bytes : "",
                           job->length);
}

/* On the loop: records the row and answers. */
static void file_stored(void *arg, int canceled) {
  file_job *job = arg;
  pn_hub_request reply = {.hub = job->hub, .request = job->request};
  json_t *file = NULL;
  int rc = canceled || job->refused ? 0 : job->rc;
  if (!canceled && !job->refused && rc == 0)
    rc = record_file(job, &file);
  if (file && rc == 0)
    rc = blob_kept(job);
  if (canceled)
    pn_hub_problem(&reply, 503, NULL, "The hub stopped before it stored the file. Upload again.");
  else if (job->refused)
    pn_hub_problem(&reply, job->refused, NULL, "%s", job->problem ? job->problem : "");
  else if (rc < 0)
    pn_hub_store_failed(&reply, rc, "storing the file");
  else
    job->answer(job, &reply, file);
  json_decref(file);
  file_job_free(job);
}

/* Hands the request's body to the pool: `read` finds the file in it there, and
 * `answer` replies once the file is recorded. `name` and `type` may be NULL when
 * `read` sets them. */
static void store_file(pn_hub_request *request, const char *account, const char *name,
                       const char *type, void (*read)(file_job *job),
                       void (*answer)(file_job *job, pn_hub_request *reply, json_t *file)) {
  file_job *job = pn_calloc(1, sizeof *job);
  int rc = job ? 0 : PN_ENOMEM;
  if (job) {
    job->hub = request->hub;
    job->request = request->request;
    job->account = pn_strdup(account);
    job->name = name ? pn_strdup(name) : NULL;
    job->type = type ? pn_strdup(type) : NULL;
    job->content_type = pn_strdup(pn_hub_request_header(request, "Content-Type"));
    job->read = read;
    job->answer = answer;
    job->body = pn_hub_body_take(request);
    rc = job->account && job->body ? 0 : PN_ENOMEM;
  }
  if (rc == 0)
    rc = pn_hub_pool_submit(request->hub, store_blob, file_stored, job);
  if (rc == 0)
    return;
  if (job)
    file_job_free(job);
  pn_hub_problem_not_queued(request, rc, "storing files");
}

/* The file's name as the last segment of a signed URL, or NULL for none (no name, "."
 * or ".."): '/' made '_' (the route takes no '/' in a segment) and a long name cut to
 * URL_FILE_NAME_MAX bytes on a UTF-8 boundary, keeping its extension. Not percent-encoded. */
static char *url_file_name(const char *name) {
  if (!name || !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return NULL;
  size_t length = strlen(name);
  const char *dot = strrchr(name, '.');
  size_t extension = dot ? strlen(dot) : 0;
  if (extension > URL_FILE_NAME_MAX / 2)
    extension = 0;
  size_t stem = length - extension;
  if (length > URL_FILE_NAME_MAX) {
    stem = URL_FILE_NAME_MAX - extension;
    while (stem > 0 && ((unsigned char)name[stem] & 0xC0) == 0x80)
      stem--; /* not inside a UTF-8 sequence */
  }
  char *short_name = pn_strfmt("%.*s%s", (int)stem, name, extension ? dot : "");
  if (short_name)
    for (char *c = short_name; *c; c++)
      if (*c == '/')
        *c = '_';
  return short_name;
}

char *pn_hub_file_signed_url(pn_hub *hub, const json_t *file, long seconds,
                             const char *internal_url) {
  const char *owner = text_of(file, "account"), *id = text_of(file, "id");
  long expiry = (long)time(NULL) + seconds;
  char *message = pn_strfmt("%s %s %ld", owner, id, expiry);
  unsigned char mac[32];
  if (!message ||
      pn_crypto_hmac_sha256(hub->secret, sizeof hub->secret, message, strlen(message), mac) < 0) {
    pn_free(message);
    return NULL;
  }
  pn_free(message);
  pn_buf signature;
  pn_buf_init(&signature, 128);
  pn_base64_encode(mac, sizeof mac, &signature);
  char *encoded_signature = evhttp_uriencode(signature.data, -1, 0);
  char *encoded_owner = evhttp_uriencode(owner, -1, 0);
  /* The file's name ends the path: a model server names a downloaded input after the
   * URL's last segment (as Cog does), so the predictor sees `photo.png`, not
   * `download`, and code that goes by the extension works. The signature does not
   * cover it; the route ignores it. */
  char *name = url_file_name(text_of(file, "name"));
  int named = name != NULL;
  char *encoded_name = named ? evhttp_uriencode(name, -1, 0) : NULL;
  pn_free(name);
  pn_buf_free(&signature);
  char *url = NULL;
  if (encoded_signature && encoded_owner && (encoded_name || !named))
    url = pn_strfmt("%s/%s/files/%s/download%s%s?owner=%s&expiry=%ld&signature=%s",
                    internal_url ? internal_url : hub->public_url, internal_url ? "internal" : "v1",
                    id, encoded_name ? "/" : "", encoded_name ? encoded_name : "", encoded_owner,
                    expiry, encoded_signature);
  free(encoded_signature);
  free(encoded_owner);
  free(encoded_name);
  return url;
}

int pn_hub_file_keep(pn_hub *hub, json_t *file) {
  if (json_is_null(json_object_get(file, "expires_at")))
    return 0;
  if (file_expired(file))
    return PN_ENOENT; /* too late: the sweep takes it */
  json_object_set_new(file, "expires_at", json_null());
  pn_store_keys keys = {.id = text_of(file, "id"),
                        .account = text_of(file, "account"),
                        .created_at = text_of(file, "created_at")};
  return pn_store_update(hub->store, PN_STORE_FILES, &keys, file);
}

static json_t *render_file(pn_hub_request *request, const json_t *row) {
  return pn_hub_file_object(request->hub, row);
}

/* The `metadata` part: JSON text whether it came as a file (JS) or a field (PY). */
static int read_metadata(const pn_hub_part *part, json_t **metadata) {
  *metadata = NULL;
  if (!part || part->length == 0)
    return 0;
  json_t *value = json_loadb(part->data, part->length, 0, NULL);
  if (!json_is_object(value)) {
    json_decref(value);
    return PN_EPARSE;
  }
  *metadata = value;
  return 0;
}

static char *part_text(const pn_hub_part *part) {
  return part ? pn_strndup(part->data, part->length) : NULL;
}

static void answer_upload(file_job *job, pn_hub_request *reply, json_t *file) {
  pn_hub_reply(reply, 201, pn_hub_file_object(job->hub, file));
}

/* On the pool: the `content` part of a multipart upload, with its name, type and
 * metadata. */
static void read_upload(file_job *job) {
  size_t length = evbuffer_get_length(job->body);
  const char *body = (const char *)evbuffer_pullup(job->body, -1);
  pn_hub_part *parts = NULL;
  size_t count = 0;
  const char *error = NULL;
  if (pn_hub_multipart_parse(job->content_type, body ? body : "", length, &parts, &count,
                             &error) < 0) {
    char *problem = pn_strfmt("Cannot read the upload: %s. Send multipart/form-data with the "
                              "bytes in a part named `content`.",
                              error);
    refuse_upload(job, 400, problem ? problem : "Cannot read the upload.");
    pn_free(problem);
    return;
  }
  const pn_hub_part *content = pn_hub_part_find(parts, count, "content");
  if (!content) {
    refuse_upload(job, 400,
                  "The upload has no `content` part. Send the bytes in a multipart part named "
                  "`content`, with a filename.");
  } else if (content->length > FILE_SIZE_MAX) {
    refuse_upload(job, 413, "The file is larger than the 100 MB limit.");
  } else if (read_metadata(pn_hub_part_find(parts, count, "metadata"), &job->metadata) < 0) {
    refuse_upload(job, 400, "The `metadata` part must be a JSON object.");
  } else {
    char *name = part_text(pn_hub_part_find(parts, count, "filename"));
    char *type = part_text(pn_hub_part_find(parts, count, "type"));
    const char *file_name = name ? name : content->filename ? content->filename : "file";
    const char *file_type = type                    ? type
                            : content->content_type ? content->content_type
                                                    : pn_mime_for_path(file_name);
    job->name = pn_strdup(file_name);
    job->type = pn_strdup(file_type ? file_type : "application/octet-stream");
    job->bytes = content->data;
    job->length = content->length;
    if (!job->name || !job->type)
      refuse_upload(job, 500, "The hub ran out of memory.");
    pn_free(name);
    pn_free(type);
  }
  pn_hub_parts_free(parts, count);
}

void pn_hub_files_create(pn_hub_request *request) {
  if (request->body_length > FILE_SIZE_MAX + 64 * 1024) {
    pn_hub_problem(request, 413, NULL,
                   "The upload is larger than the 100 MB limit for files. Pass a URL to the "
                   "file in the prediction's input instead.");
    return;
  }
  store_file(request, request->account, NULL, NULL, read_upload, answer_upload);
}

void pn_hub_files_list(pn_hub_request *request) {
  pn_store_query query = {.account = request->account};
  pn_hub_reply_page(request, PN_STORE_FILES, &query, render_file);
}

/* The caller's file row, or NULL after answering 404. */
static json_t *own_file(pn_hub_request *request) {
  json_t *file = NULL;
  if (request->account &&
      pn_store_get(request->hub->store, PN_STORE_FILES, request->params[0], &file) == 0 &&
      strcmp(text_of(file, "account"), request->account) == 0) {
    if (!file_expired(file))
      return file;
    pn_hub_problem(request, 404, "File not found",
                   "The file %s expired at %s (uploads live %ld seconds). Upload it again.",
                   request->params[0], text_of(file, "expires_at"), pn_hub_file_lifetime());
    json_decref(file);
    return NULL;
  }
  json_decref(file);
  pn_hub_problem(request, 404, "File not found",
                 "There is no file %s in your account. List your files at /v1/files.",
                 request->params[0]);
  return NULL;
}

void pn_hub_file_get(pn_hub_request *request) {
  if (pn_hub_stream_token_is_ours(request->params[0])) {
    pn_hub_stream_get(request);
    return;
  }
  if (!request->account) {
    pn_hub_problem(request, 401, "Unauthenticated",
                   "You did not pass a valid authentication token. Send `Authorization: Bearer "
                   "<token>`.");
    return;
  }
  json_t *file = own_file(request);
  if (!file)
    return;
  pn_hub_reply(request, 200, pn_hub_file_object(request->hub, file));
  json_decref(file);
}

void pn_hub_file_delete(pn_hub_request *request) {
  json_t *file = own_file(request);
  if (!file)
    return;
  int rc = delete_file(request->hub, file);
  if (rc < 0)
    pn_hub_store_failed(request, rc, "deleting the file");
  else
    pn_hub_reply_empty(request, 204);
  json_decref(file);
}

/* Whether a browser shows this type without running anything in it, so the file may
 * open in place: raster images, audio, video and plain text. Everything else (HTML,
 * SVG, XML, JavaScript, PDF, unknown types) could run script or render a document on
 * the hub's origin, and downloads as an attachment. */
static int shown_inline(const char *type) {
  static const char *const exact[] = {"image/png", "image/jpeg", "image/gif", "image/webp",
                                      "text/plain"};
  size_t length = strcspn(type, "; \t");
  for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
    if (length == strlen(exact[i]) && strncasecmp(type, exact[i], length) == 0)
      return 1;
  return (strncasecmp(type, "audio/", 6) == 0 && length > 6) ||
         (strncasecmp(type, "video/", 6) == 0 && length > 6);
}

/* A media type fit for a header: printable ASCII, else application/octet-stream. */
static const char *header_type(const char *type) {
  if (!type || !*type)
    return "application/octet-stream";
  for (const char *c = type; *c; c++)
    if (*c < 0x20 || *c > 0x7e)
      return "application/octet-stream";
  return type;
}

/* `inline` or `attachment` with the file's name twice (RFC 6266): `filename` as ASCII
 * with anything doubtful replaced by '_', and `filename*` percent-encoded UTF-8 (RFC
 * 8187). Returns a pn_malloc'd header value, NULL without memory. */
static char *content_disposition(const char *disposition, const char *name) {
  static const char digits[] = "0123456789ABCDEF";
  pn_buf value;
  pn_buf_init(&value, 64 * 1024);
  pn_buf_appendf(&value, "%s; filename=\"", disposition);
  for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
    char plain = *c >= 0x20 && *c < 0x7f && !strchr("\"\\/%", *c) ? (char)*c : '_';
    pn_buf_append(&value, &plain, 1);
  }
  pn_buf_append_str(&value, "\"; filename*=UTF-8''");
  for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
    if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
        strchr("!#$&+-.^_`|~", *c)) {
      pn_buf_append(&value, c, 1);
    } else {
      char escaped[3] = {'%', digits[*c >> 4], digits[*c & 15]};
      pn_buf_append(&value, escaped, 3);
    }
  }
  return pn_buf_take(&value);
}

/* Answers the file's bytes (or the one range asked for) straight from its blob: the
 * body is a file segment the connection sends with sendfile, so a download costs no
 * memory however big the file. Whatever the type, the reply may not be sniffed and runs
 * sandboxed if a browser renders it; only shown_inline types open in place. */
static void send_blob(pn_hub_request *request, const json_t *file) {
  char *path = pn_hub_blob_path(request->hub->data_dir, text_of(file, "sha256"));
  int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
  pn_free(path);
  struct stat status;
  if (fd < 0 || fstat(fd, &status) < 0 || !S_ISREG(status.st_mode)) {
    if (fd >= 0)
      close(fd);
    pn_hub_problem(request, 404, "File not found", "The bytes of file %s are gone.",
                   text_of(file, "id"));
    return;
  }
  uint64_t total = (uint64_t)status.st_size;
  pn_hub_header(request, "X-Content-Type-Options", "nosniff");
  pn_hub_header(request, "Content-Security-Policy", "sandbox; default-src 'none'");
  pn_hub_header(request, "Accept-Ranges", "bytes");
  const char *range_header = pn_hub_request_header(request, "Range");
  pn_http_range range = {0, total ? total - 1 : 0};
  enum pn_http_range_kind kind =
      pn_http_range_parse(range_header, range_header ? strlen(range_header) : 0, total, &range);
  char text[80];
  if (kind == PN_HTTP_RANGE_UNSATISFIABLE) {
    close(fd);
    snprintf(text, sizeof text, "bytes */%llu", (unsigned long long)total);
    pn_hub_header(request, "Content-Range", text);
    pn_hub_problem(request, 416, "Range not satisfiable",
                   "The file has %llu bytes; the Range \"%s\" asks for none of them.",
                   (unsigned long long)total, range_header);
    return;
  }
  const char *type = header_type(text_of(file, "content_type"));
  char *disposition =
      content_disposition(shown_inline(type) ? "inline" : "attachment", text_of(file, "name"));
  if (disposition)
    pn_hub_header(request, "Content-Disposition", disposition);
  pn_free(disposition);
  pn_hub_header(request, "Content-Type", type);
  uint64_t length = total ? range.last - range.first + 1 : 0;
  if (kind == PN_HTTP_RANGE_PART) {
    snprintf(text, sizeof text, "bytes %llu-%llu/%llu", (unsigned long long)range.first,
             (unsigned long long)range.last, (unsigned long long)total);
    pn_hub_header(request, "Content-Range", text);
  }
  pn_hub_send_file_segment(request, kind == PN_HTTP_RANGE_PART ? 206 : 200, fd, range.first,
                           length, "file");
}

void pn_hub_send_file_segment(pn_hub_request *request, int status, int fd, uint64_t offset,
                              uint64_t length, const char *what) {
  char text[32];
  snprintf(text, sizeof text, "%llu", (unsigned long long)length);
  pn_hub_header(request, "Content-Length", text);
  int wants_body = evhttp_request_get_command(request->request) != EVHTTP_REQ_HEAD && length > 0;
  struct evbuffer *body = wants_body ? evbuffer_new() : NULL;
  /* Only ever written to the socket: lets libevent send the segment with sendfile
   * instead of mapping or reading it into memory; not a small one, which the listener
   * copies out looking for error pages (core/listen.h). */
  if (body && length > PN_LISTEN_INSPECTED_MAX)
    evbuffer_set_flags(body, EVBUFFER_FLAG_DRAINS_TO_FD);
  if (body && evbuffer_add_file(body, fd, (ev_off_t)offset, (ev_off_t)length) == 0)
    fd = -1; /* the buffer owns it now */
  if (fd >= 0)
    close(fd);
  if (wants_body && (!body || evbuffer_get_length(body) != length)) {
    if (body)
      evbuffer_free(body);
    pn_hub_problem(request, 503, NULL, "The hub could not read the %s; retry.", what);
    return;
  }
  evhttp_send_reply(request->request, status, NULL, body);
  if (body)
    evbuffer_free(body);
}

/* The hex HMAC that makes an output URL a capability. */
static int output_mac(pn_hub *hub, const char *id, char hex[65]) {
  unsigned char mac[32];
  char *message = pn_strfmt("output %s", id);
  int rc = message ? pn_crypto_hmac_sha256(hub->secret, sizeof hub->secret, message,
                                           strlen(message), mac)
                   : PN_ENOMEM;
  pn_free(message);
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; rc == 0 && i < 32; i++) {
    hex[2 * i] = digits[mac[i] >> 4];
    hex[2 * i + 1] = digits[mac[i] & 15];
  }
  hex[64] = '\0';
  return rc;
}

char *pn_hub_output_url(pn_hub *hub, const json_t *file) {
  char hex[65];
  const char *id = text_of(file, "id");
  char *name = evhttp_uriencode(text_of(file, "name"), -1, 0);
  char *url = name && output_mac(hub, id, hex) == 0
                  ? pn_hub_url(hub, "/v1/outputs/%s.%s/%s", id, hex, name)
                  : NULL;
  free(name);
  return url;
}

void pn_hub_output_download(pn_hub_request *request) {
  const char *token = request->params[0];
  const char *dot = strchr(token, '.');
  char hex[65];
  json_t *file = NULL;
  char *id = dot ? pn_strndup(token, (size_t)(dot - token)) : NULL;
  unsigned char difference = 1;
  if (id && strlen(dot + 1) == 64 && output_mac(request->hub, id, hex) == 0) {
    difference = 0;
    for (int i = 0; i < 64; i++)
      difference |= (unsigned char)(hex[i] ^ dot[1 + i]);
  }
  if (difference || pn_store_get(request->hub->store, PN_STORE_FILES, id, &file) < 0)
    pn_hub_problem(request, 404, "File not found",
                   "There is no output file at this URL. Use the URL in the prediction's "
                   "output as it is.");
  else
    send_blob(request, file);
  json_decref(file);
  pn_free(id);
}

static int signature_valid(pn_hub *hub, const char *owner, const char *id, const char *expiry,
                           const char *signature) {
  char *message = pn_strfmt("%s %s %s", owner, id, expiry);
  unsigned char mac[32];
  int valid = 0;
  if (message &&
      pn_crypto_hmac_sha256(hub->secret, sizeof hub->secret, message, strlen(message), mac) == 0) {
    pn_buf expected;
    pn_buf_init(&expected, 128);
    pn_base64_encode(mac, sizeof mac, &expected);
    /* A '+' that a client left unescaped arrives as a space. */
    size_t length = strlen(signature);
    valid = expected.data && length == expected.length;
    unsigned char difference = 0;
    for (size_t i = 0; valid && i < length; i++)
      difference |= (unsigned char)((signature[i] == ' ' ? '+' : signature[i]) ^ expected.data[i]);
    valid = valid && difference == 0;
    pn_buf_free(&expected);
  }
  pn_free(message);
  return valid;
}

void pn_hub_file_download(pn_hub_request *request) {
  const char *owner = pn_hub_query(request, "owner"), *expiry = pn_hub_query(request, "expiry");
  const char *signature = pn_hub_query(request, "signature");
  json_t *file = NULL;
  if (!signature && request->account) {
    /* The owner, signed in (a token, or the pages' session with its CSRF token), needs
     * no signature: the prediction page shows the input files this way. */
    file = own_file(request);
    if (file)
      send_blob(request, file);
    json_decref(file);
    return;
  }
  if (!owner || !expiry || !signature ||
      !signature_valid(request->hub, owner, request->params[0], expiry, signature)) {
    pn_hub_problem(request, 403, NULL,
                   "This download URL is not valid: its signature does not match. Ask the API "
                   "for a fresh URL.");
    return;
  }
  if (atol(expiry) < (long)time(NULL)) {
    pn_hub_problem(request, 403, NULL, "This download URL expired. Ask the API for a fresh URL.");
    return;
  }
  if (pn_store_get(request->hub->store, PN_STORE_FILES, request->params[0], &file) < 0 ||
      strcmp(text_of(file, "account"), owner) != 0 || file_expired(file)) {
    json_decref(file);
    pn_hub_problem(request, 404, "File not found", "The file %s no longer exists.",
                   request->params[0]);
    return;
  }
  send_blob(request, file);
  json_decref(file);
}

/* Output files from instances: stored as files of the hub's own "outputs" owner and
 * answered with `Location: {PUBLIC}/v1/outputs/<id>.<HMAC>/<name>`, which becomes the
 * output value. The capability is in the path because model servers drop the query
 * of the Location they get (as Cog does). */
static void answer_output_upload(file_job *job, pn_hub_request *reply, json_t *file) {
  char *url = pn_hub_output_url(job->hub, file);
  if (url)
    pn_hub_header(reply, "Location", url);
  pn_hub_reply(reply, 201, json_pack("{s:s?}", "url", url));
  pn_free(url);
}

void pn_hub_upload_put(pn_hub_request *request) {
  const char *name = request->params[1];
  const char *type = pn_hub_request_header(request, "Content-Type");
  if (!type || strcmp(type, "application/octet-stream") == 0)
    type = pn_mime_for_path(name);
  store_file(request, OUTPUTS_OWNER, name, type ? type : "application/octet-stream",
             read_whole_body, answer_output_upload);
}
