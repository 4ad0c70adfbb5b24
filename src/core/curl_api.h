/* libcurl, loaded when first needed. Linking libcurl pulls in some thirty libraries
 * (TLS, Kerberos, LDAP, SSH, ...) whose loading and initialisers cost ~10 ms at every
 * start of the binary; most commands (`pinion --help`, `pinion schema`) never make an
 * HTTP request. So pinion opens libcurl.so.4 with dlopen on the first transfer and
 * calls it through this table. */
#ifndef PN_CORE_CURL_API_H
#define PN_CORE_CURL_API_H

#include <curl/curl.h>

typedef struct pn_curl_api {
  CURLcode (*global_init)(long flags);
  CURLM *(*multi_init)(void);
  CURLMcode (*multi_setopt)(CURLM *multi, CURLMoption option, ...);
  CURLMcode (*multi_socket_action)(CURLM *multi, curl_socket_t fd, int mask, int *running);
  CURLMcode (*multi_assign)(CURLM *multi, curl_socket_t fd, void *pointer);
  CURLMsg *(*multi_info_read)(CURLM *multi, int *left);
  CURLMcode (*multi_add_handle)(CURLM *multi, CURL *easy);
  CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *easy);
  CURLMcode (*multi_cleanup)(CURLM *multi);
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *easy, CURLoption option, ...);
  CURLcode (*easy_getinfo)(CURL *easy, CURLINFO info, ...);
  void (*easy_cleanup)(CURL *easy);
  const char *(*easy_strerror)(CURLcode code);
  struct curl_slist *(*slist_append)(struct curl_slist *list, const char *text);
  void (*slist_free_all)(struct curl_slist *list);
  curl_version_info_data *(*version_info)(CURLversion stamp);
} pn_curl_api;

/* The oldest libcurl whose options pinion sets: CURLOPT_PROTOCOLS_STR came in 7.85.0
 * (pinion built against older headers uses the bitmask form, there since 7.19.4). */
#if LIBCURL_VERSION_NUM >= 0x075500
#define PN_CURL_VERSION_NEEDED 0x075500
#define PN_CURL_VERSION_NEEDED_TEXT "7.85.0"
#else
#define PN_CURL_VERSION_NEEDED 0x071304
#define PN_CURL_VERSION_NEEDED_TEXT "7.19.4"
#endif

/* The table, loading libcurl and running curl_global_init on first call. NULL when
 * libcurl cannot be loaded or is older than PN_CURL_VERSION_NEEDED (an option that
 * limits protocols, redirects, sizes or times would be refused); *error (static
 * text, valid for the process) then says why. */
const pn_curl_api *pn_curl(const char **error);

#endif
