/* Loading libcurl on demand. See curl_api.h. */
#include "core/curl_api.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>

static pn_curl_api api;
static int loaded;
static const char *load_error;
static char version_error[192];

#define RESOLVE(field, name)                                                                   \
  do {                                                                                         \
    *(void **)&api.field = dlsym(library, name);                                               \
    if (!api.field) {                                                                          \
      load_error = "libcurl.so.4 lacks " name;                                                 \
      return NULL;                                                                             \
    }                                                                                          \
  } while (0)

const pn_curl_api *pn_curl(const char **error) {
  if (loaded) {
    if (error)
      *error = load_error;
    return load_error ? NULL : &api;
  }
  loaded = 1;
  void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    load_error = "libcurl.so.4 could not be loaded: install libcurl4 (apt-get install libcurl4)";
    if (error)
      *error = load_error;
    return NULL;
  }
  RESOLVE(global_init, "curl_global_init");
  RESOLVE(multi_init, "curl_multi_init");
  RESOLVE(multi_setopt, "curl_multi_setopt");
  RESOLVE(multi_socket_action, "curl_multi_socket_action");
  RESOLVE(multi_assign, "curl_multi_assign");
  RESOLVE(multi_info_read, "curl_multi_info_read");
  RESOLVE(multi_add_handle, "curl_multi_add_handle");
  RESOLVE(multi_remove_handle, "curl_multi_remove_handle");
  RESOLVE(multi_cleanup, "curl_multi_cleanup");
  RESOLVE(easy_init, "curl_easy_init");
  RESOLVE(easy_setopt, "curl_easy_setopt");
  RESOLVE(easy_getinfo, "curl_easy_getinfo");
  RESOLVE(easy_cleanup, "curl_easy_cleanup");
  RESOLVE(easy_strerror, "curl_easy_strerror");
  RESOLVE(slist_append, "curl_slist_append");
  RESOLVE(slist_free_all, "curl_slist_free_all");
  RESOLVE(version_info, "curl_version_info");
  const curl_version_info_data *version = api.version_info(CURLVERSION_NOW);
  if (!version || version->version_num < PN_CURL_VERSION_NEEDED) {
    snprintf(version_error, sizeof version_error,
             "libcurl %s is too old: pinion needs %s or newer for the options that limit "
             "protocols, redirects and time (built against %s); upgrade libcurl4",
             version && version->version ? version->version : "(unknown)",
             PN_CURL_VERSION_NEEDED_TEXT, LIBCURL_VERSION);
    load_error = version_error;
    if (error)
      *error = load_error;
    return NULL;
  }
  if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    load_error = "curl_global_init failed";
    if (error)
      *error = load_error;
    return NULL;
  }
  if (error)
    *error = NULL;
  return &api;
}
