/* The engine's bridge network, seen from the host. See network.h.
 *
 * The gateway is asked of the engine rather than assumed (10.88.0.1 and 172.17.0.1 are
 * only defaults; an operator may have moved the subnet), with a Go template, so that
 * the answer is a list of addresses and nothing needs parsing but them. */
#include "image/network.h"

#include "core/alloc.h"
#include "core/error.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define INSPECT_TIMEOUT_MS 10000

/* The first IPv4 address in a space- or newline-separated list, pn_malloc'd, or NULL. */
static char *first_ipv4(const char *list) {
  const char *cursor = list;
  while (cursor && *cursor) {
    size_t skip = strspn(cursor, " \t\r\n");
    cursor += skip;
    size_t length = strcspn(cursor, " \t\r\n");
    if (!length)
      break;
    char *word = pn_strndup(cursor, length);
    struct in_addr parsed;
    if (word && inet_pton(AF_INET, word, &parsed) == 1)
      return word;
    pn_free(word);
    cursor += length;
  }
  return NULL;
}

int pn_image_bridge_gateway(const pn_image_engine *engine, char **address, char **error) {
  *address = NULL;
  *error = NULL;
  if (!engine->can_run) {
    *error = pn_strfmt("%s cannot run containers; install podman (apt-get install podman runc)",
                       engine->name);
    return *error ? PN_EUNSUPPORTED : PN_ENOMEM;
  }
  if (engine->kind == PN_ENGINE_PODMAN && geteuid() != 0) {
    *error = pn_strdup(
        "rootless podman keeps its bridge network in a namespace of its own, where the hub "
        "cannot listen for its containers; run the hub as root with podman, use docker, or "
        "(only if you trust everyone who can push) --isolation none");
    return *error ? PN_EUNSUPPORTED : PN_ENOMEM;
  }
  int podman = engine->kind == PN_ENGINE_PODMAN;
  pn_image_argv argv;
  pn_image_argv_init(&argv);
  pn_image_argv_add(&argv, engine->name);
  pn_image_argv_add(&argv, "network");
  pn_image_argv_add(&argv, "inspect");
  pn_image_argv_add(&argv, podman ? "podman" : "bridge");
  pn_image_argv_add(&argv, "--format");
  pn_image_argv_add(&argv, podman ? "{{range .Subnets}}{{.Gateway}} {{end}}"
                                  : "{{range .IPAM.Config}}{{.Gateway}} {{end}}");
  char *output = NULL;
  int rc = pn_image_run(&argv, &output, PN_RUN_WITH_STDERR, INSPECT_TIMEOUT_MS);
  pn_image_argv_free(&argv);
  *address = rc == 0 && output ? first_ipv4(output) : NULL;
  if (!*address) {
    size_t length = output ? strlen(output) : 0;
    while (length && strchr(" \t\r\n", output[length - 1]))
      length--;
    *error = pn_strfmt(
        "`%s network inspect %s` named no IPv4 gateway for the engine's default bridge (%s%.*s); "
        "make sure `%s run --network=bridge` works on this host",
        engine->name, podman ? "podman" : "bridge",
        rc < 0 ? pn_strerror(rc) : rc == 0 ? "it answered: " : "it failed: ", (int)length,
        output ? output : "", engine->name);
    rc = PN_EUNSUPPORTED;
  } else {
    rc = 0;
  }
  pn_free(output);
  if (rc < 0 && !*error)
    rc = PN_ENOMEM;
  return rc;
}

int pn_image_network_ensure(const pn_image_engine *engine, const char *name, const char *subnet,
                            const char *gateway, char **error) {
  *error = NULL;
  int podman = engine->kind == PN_ENGINE_PODMAN;
  pn_image_argv argv;
  pn_image_argv_init(&argv);
  pn_image_argv_add(&argv, engine->name);
  pn_image_argv_add(&argv, "network");
  pn_image_argv_add(&argv, "create");
  pn_image_argv_addf(&argv, "--subnet=%s", subnet);
  pn_image_argv_addf(&argv, "--gateway=%s", gateway);
  if (podman) /* docker's user-defined bridges are isolated from each other already */
    pn_image_argv_add(&argv, "--opt=isolate=true");
  pn_image_argv_add(&argv, name);
  char *output = NULL;
  int rc = pn_image_run(&argv, &output, PN_RUN_WITH_STDERR, INSPECT_TIMEOUT_MS);
  pn_image_argv_free(&argv);
  /* A network made for an earlier instance in this slot is used again. */
  if (rc > 0 && output && strstr(output, "already exists"))
    rc = 0;
  if (rc != 0) {
    size_t length = output ? strlen(output) : 0;
    while (length && strchr(" \t\r\n", output[length - 1]))
      length--;
    *error = pn_strfmt("`%s network create %s` (the instance's own network, on %s) failed: "
                       "%s%.*s; remove a network of another name on that subnet, or see "
                       "docs/security.md",
                       engine->name, name, subnet, rc < 0 ? pn_strerror(rc) : "",
                       (int)length, output ? output : "");
    rc = *error ? PN_EUNSUPPORTED : PN_ENOMEM;
  }
  pn_free(output);
  return rc;
}
