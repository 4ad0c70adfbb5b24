/* A README's images from its version's bundle. See readme_images.h.
 *
 * The bundle is someone else's folder: the file is opened one path segment at a time
 * from the bundle's folder with O_NOFOLLOW, so neither "..", an absolute path nor a
 * symbolic link (should one ever be in a bundle: unpacking makes none) reaches outside
 * it, and only a regular file is served. */
#include "hub/readme_images.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/encoding.h"
#include "core/error.h"
#include "core/mime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* More path segments than any README image's path has. */
#define SEGMENTS_MAX 32

static const char versions_part[] = "/versions/";
static const char images_part[] = "/images/";

char *pn_hub_readme_image_base(const char *owner, const char *name, const char *version_id) {
  return pn_strfmt("/%s/%s%s%s%s", owner, name, versions_part, version_id, images_part);
}

/* The route's pieces, borrowed from the path: /{owner}/{name}/versions/{id}/images/{file} */
typedef struct route_parts {
  char *owner, *name, *version; /* pn_malloc'd */
  const char *file;             /* the rest, still percent-encoded */
} route_parts;

static void parts_free(route_parts *parts) {
  pn_free(parts->owner);
  pn_free(parts->name);
  pn_free(parts->version);
}

/* The `length` bytes at `start` as a segment (non-empty, no '/'), pn_malloc'd; NULL
 * otherwise. */
static char *segment(const char *start, size_t length) {
  return length && !memchr(start, '/', length) ? pn_strndup(start, length) : NULL;
}

static int parse_route(const char *path, route_parts *parts) {
  memset(parts, 0, sizeof *parts);
  if (*path != '/')
    return 0;
  const char *owner = path + 1;
  const char *slash = strchr(owner, '/');
  const char *name = slash ? slash + 1 : NULL;
  slash = name ? strchr(name, '/') : NULL;
  if (!slash || strncmp(slash, versions_part, sizeof versions_part - 1) != 0)
    return 0;
  const char *version = slash + sizeof versions_part - 1;
  const char *images = strchr(version, '/');
  if (!images || strncmp(images, images_part, sizeof images_part - 1) != 0 ||
      !images[sizeof images_part - 1])
    return 0;
  parts->owner = segment(owner, (size_t)(name - 1 - owner));
  parts->name = segment(name, (size_t)(slash - name));
  parts->version = segment(version, (size_t)(images - version));
  parts->file = images + sizeof images_part - 1;
  if (parts->owner && parts->name && parts->version)
    return 1;
  parts_free(parts);
  return 0;
}

int pn_hub_readme_image_path(const char *path) {
  route_parts parts;
  int matched = parse_route(path, &parts);
  if (matched)
    parts_free(&parts);
  return matched;
}

/* Whether the `length` decoded bytes of `path` are a plain relative path: segments split
 * by '/', none empty (an absolute path or "a//b" has one), "." or "..", no NUL, at most
 * SEGMENTS_MAX segments, each shorter than a file name may be. */
static int plain_relative(const char *path, size_t length) {
  if (memchr(path, '\0', length))
    return 0;
  int depth = 0;
  for (size_t start = 0; start <= length;) {
    const char *slash = memchr(path + start, '/', length - start);
    size_t end = slash ? (size_t)(slash - path) : length;
    size_t size = end - start;
    if (size == 0 || size > NAME_MAX || ++depth > SEGMENTS_MAX ||
        (path[start] == '.' && (size == 1 || (size == 2 && path[start + 1] == '.'))))
      return 0;
    start = end + 1;
  }
  return 1;
}

/* Opens the file a plain_relative `path` names inside the folder `root`, read-only,
 * into *fd. PN_ENOENT when there is no regular file there, or when a segment is a
 * symbolic link (O_NOFOLLOW); PN_EIO otherwise. */
static int open_inside(const char *root, const char *path, int *fd) {
  *fd = -1;
  int folder = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder < 0)
    return errno == ENOENT ? PN_ENOENT : PN_EIO;
  int rc = 0;
  for (const char *segment_start = path; rc == 0;) {
    const char *slash = strchr(segment_start, '/');
    size_t size = slash ? (size_t)(slash - segment_start) : strlen(segment_start);
    char name[NAME_MAX + 1];
    memcpy(name, segment_start, size);
    name[size] = '\0';
    int last = !slash;
    /* O_NONBLOCK: a FIFO must not hold the loop; it is refused below anyway. */
    int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (last ? O_NONBLOCK : O_DIRECTORY);
    int next = openat(folder, name, flags);
    if (next < 0)
      rc = errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? PN_ENOENT : PN_EIO;
    close(folder);
    folder = next;
    if (rc < 0 || last)
      break;
    segment_start = slash + 1;
  }
  struct stat status;
  if (rc == 0 && (fstat(folder, &status) < 0 || !S_ISREG(status.st_mode)))
    rc = PN_ENOENT;
  if (rc < 0) {
    if (folder >= 0)
      close(folder);
    return rc;
  }
  *fd = folder;
  return 0;
}

/* The bundle folder of owner/name's version; answers 404 and returns NULL when the
 * model is not visible, the version does not exist or is an image. `*version` is the
 * row the result borrows from (the caller decrefs it). */
static const char *bundle_of(pn_hub_request *request, const route_parts *parts, json_t **version) {
  *version = NULL;
  json_t *model = pn_hub_model_visible(request, parts->owner, parts->name);
  if (!model)
    return NULL;
  const char *model_id = json_string_value(json_object_get(model, "id"));
  char *key = pn_strfmt("%s:%s", model_id, parts->version);
  int rc = key ? pn_store_get(request->hub->store, PN_STORE_VERSIONS, key, version) : PN_ENOMEM;
  pn_free(key);
  const char *kind = rc == 0 ? json_string_value(json_object_get(*version, "kind")) : NULL;
  const char *source = rc == 0 ? json_string_value(json_object_get(*version, "source")) : NULL;
  int is_folder = kind && strcmp(kind, "bundle") == 0 && source;
  if (rc < 0 && rc != PN_ENOENT)
    pn_hub_store_failed(request, rc, "reading the version");
  else if (rc < 0)
    pn_hub_problem(request, 404, NULL,
                   "The model %s has no version %s. List its versions at /v1/models/%s/versions.",
                   model_id, parts->version, model_id);
  else if (!is_folder)
    pn_hub_problem(request, 404, NULL,
                   "Version %s of %s is a container image: the hub serves README images from "
                   "pushed model folders only. Link the image from a public URL instead.",
                   parts->version, model_id);
  json_decref(model);
  if (is_folder)
    return source;
  json_decref(*version);
  *version = NULL;
  return NULL;
}

/* The file's bytes, sent with sendfile (`fd` is the reply's from here on). */
static void send_image(pn_hub_request *request, int fd, const char *type, size_t length) {
  pn_hub_header(request, "Content-Type", type);
  pn_hub_header(request, "X-Content-Type-Options", "nosniff");
  pn_hub_header(request, "Content-Security-Policy", "sandbox; default-src 'none'");
  pn_hub_header(request, "Content-Disposition", "inline");
  /* A version's bundle never changes; the reply depends on who asks. */
  pn_hub_header(request, "Cache-Control", "private, max-age=86400");
  pn_hub_send_file_segment(request, 200, fd, 0, length, "image");
}

/* Serves the image `parts` names, once the caller may see the model. */
static void serve_parts(pn_hub_request *request, const route_parts *parts) {
  pn_buf file;
  pn_buf_init(&file, 4096);
  if (pn_percent_decode(parts->file, strlen(parts->file), 0, &file) < 0 || !file.data) {
    pn_buf_free(&file);
    pn_hub_problem(request, 400, NULL, "The image path %s is too long or badly encoded.",
                   parts->file);
    return;
  }
  const char *type = pn_mime_for_path(file.data);
  json_t *version = NULL;
  const char *root = NULL;
  int fd = -1;
  int rc = 0;
  struct stat status;
  if (!plain_relative(file.data, file.length)) {
    pn_hub_problem(request, 400, NULL,
                   "The image path must name a file inside the model's folder, with no "
                   "\".\", \"..\" or empty segments; %s does not.",
                   parts->file);
  } else if (strncmp(type, "image/", 6) != 0) {
    pn_hub_problem(request, 403, NULL,
                   "Only images (.png, .jpg, .gif, .webp, .svg, ...) are served from a model's "
                   "folder; %s is not one.",
                   parts->file);
  } else if ((root = bundle_of(request, parts, &version))) {
    rc = open_inside(root, file.data, &fd);
    if (rc == 0 && fstat(fd, &status) < 0)
      rc = PN_EIO;
    if (rc == PN_ENOENT)
      pn_hub_problem(request, 404, NULL,
                     "Version %s of %s/%s has no file %s (symbolic links are not followed). "
                     "Check the README's link against the pushed folder.",
                     parts->version, parts->owner, parts->name, parts->file);
    else if (rc < 0)
      pn_hub_problem(request, 500, NULL, "Reading %s from the model's folder failed: %s.",
                     parts->file, pn_strerror(rc));
    else if ((uint64_t)status.st_size > PN_HUB_README_IMAGE_MAX)
      pn_hub_problem(request, 403, NULL,
                     "%s is %lld bytes, over the %zu MiB the hub serves for a README's image; "
                     "make it smaller or link it from a public URL.",
                     parts->file, (long long)status.st_size, PN_HUB_README_IMAGE_MAX >> 20);
    else {
      send_image(request, fd, type, (size_t)status.st_size);
      fd = -1;
    }
  }
  if (fd >= 0)
    close(fd);
  json_decref(version);
  pn_buf_free(&file);
}

void pn_hub_readme_image_serve(pn_hub_request *request) {
  enum evhttp_cmd_type method = evhttp_request_get_command(request->request);
  route_parts parts;
  if (!parse_route(request->path, &parts)) {
    pn_hub_problem(request, 404, NULL, "There is no image at %s.", request->path);
    return;
  }
  if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD)
    pn_hub_problem(request, 405, NULL, "%s takes GET.", request->path);
  else if (!request->account)
    pn_hub_problem(request, 401, "Unauthenticated",
                   "Sign in at /login, or send `Authorization: Bearer <token>`.");
  else
    serve_parts(request, &parts);
  parts_free(&parts);
}
