/* The caller's account, its default webhook secret, the hardware list and the
 * (empty) collections. */
#include "hub/hub.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "core/error.h"
#include "core/gpu.h"
#include "hub/objects.h"

#include <stdio.h>
#include <string.h>

static json_t *load_account(pn_hub_request *request) {
  json_t *account = NULL;
  int rc = pn_store_get(request->hub->store, PN_STORE_ACCOUNTS, request->account, &account);
  if (rc == PN_ENOENT) {
    /* A token whose account row is gone: recreate the row rather than fail. */
    char now[40];
    pn_hub_now(now);
    account =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", request->account, "username", request->account,
                  "name", request->account, "type", "user", "created_at", now);
    pn_store_keys keys = {.id = request->account, .account = request->account, .created_at = now};
    rc = pn_store_insert(request->hub->store, PN_STORE_ACCOUNTS, &keys, account);
  }
  if (rc < 0) {
    json_decref(account);
    pn_hub_store_failed(request, rc, "reading the account");
    return NULL;
  }
  return account;
}

void pn_hub_account_get(pn_hub_request *request) {
  json_t *account = load_account(request);
  if (!account)
    return;
  pn_hub_reply(request, 200, pn_hub_account_object(account));
  json_decref(account);
}

/* The account's webhook signing secret, made on first use: "whsec_" + standard
 * base64 of 24 random bytes (PY splits on "_"; JS decodes with atob). *secret is
 * pn_malloc'd; the caller frees it. */
int pn_hub_account_secret(pn_hub *hub, const char *username, char **secret) {
  *secret = NULL;
  json_t *account = NULL;
  int rc = pn_store_get(hub->store, PN_STORE_ACCOUNTS, username, &account);
  if (rc < 0)
    return rc;
  const char *existing = json_string_value(json_object_get(account, "webhook_secret"));
  if (!existing) {
    unsigned char key[24];
    pn_buf text;
    pn_buf_init(&text, 128);
    pn_buf_append_str(&text, "whsec_");
    rc = pn_crypto_random(key, sizeof key);
    if (rc == 0)
      rc = pn_base64_encode(key, sizeof key, &text);
    if (rc == 0) {
      json_object_set_new(account, "webhook_secret", json_string(text.data));
      pn_store_keys keys = {.id = username,
                            .account = username,
                            .created_at =
                                json_string_value(json_object_get(account, "created_at"))};
      rc = pn_store_update(hub->store, PN_STORE_ACCOUNTS, &keys, account);
    }
    pn_buf_free(&text);
  }
  if (rc == 0)
    *secret = pn_strdup(json_string_value(json_object_get(account, "webhook_secret")));
  json_decref(account);
  return rc < 0 ? rc : *secret ? 0 : PN_ENOMEM;
}

void pn_hub_webhook_secret_get(pn_hub_request *request) {
  json_t *account = load_account(request);
  if (!account)
    return;
  json_decref(account);
  char *secret = NULL;
  int rc = pn_hub_account_secret(request->hub, request->account, &secret);
  if (rc < 0) {
    pn_hub_store_failed(request, rc, "making the webhook secret");
    return;
  }
  pn_hub_reply(request, 200, json_pack("{s:s}", "key", secret));
  pn_free(secret);
}

void pn_hub_hardware_list(pn_hub_request *request) {
  json_t *list = json_pack("[{s:s, s:s}]", "sku", "cpu", "name", "CPU");
  int gpus = pn_gpu_count();
  if (gpus > 0)
    json_array_append_new(list, json_pack("{s:s, s:s}", "sku", "gpu-nvidia", "name", "Nvidia GPU"));
  for (int count = 2; count <= gpus; count *= 2) {
    char sku[32], name[48];
    snprintf(sku, sizeof sku, "gpu-%dx-nvidia", count);
    snprintf(name, sizeof name, "%dx Nvidia GPU", count);
    json_array_append_new(list, json_pack("{s:s, s:s}", "sku", sku, "name", name));
  }
  pn_hub_reply(request, 200, list);
}

void pn_hub_collections_list(pn_hub_request *request) {
  pn_hub_reply(request, 200, json_pack("{s:n, s:n, s:[]}", "previous", "next", "results"));
}

void pn_hub_collection_get(pn_hub_request *request) {
  pn_hub_problem(request, 404, NULL,
                 "There is no collection \"%s\": this hub has no collections yet.",
                 request->params[0]);
}
