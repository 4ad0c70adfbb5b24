/* The manifests `pinion deploy kubernetes` prints for one deployment, made from the
 * hub's answers. Whatever listens at --hub answers, so those answers are untrusted
 * bytes: the builder is separate from the command so that the fuzzer
 * (tests/fuzz/fuzz_kube.c) can feed it any. See docs/scale-out.md, "On Kubernetes". */
#ifndef PN_CLI_KUBE_H
#define PN_CLI_KUBE_H

#include <jansson.h>
#include <stddef.h>

/* The model server's port in the pod (Cog's), and the director's. */
#define PN_CLI_KUBE_MODEL_PORT 5000
#define PN_CLI_KUBE_DIRECTOR_PORT 4900
/* Seconds Kubernetes gives a pod past the director's --drain-timeout before SIGKILL. */
#define PN_CLI_KUBE_GRACE_SLACK 30

typedef struct pn_cli_kube_options {
  const char *deployment;   /* OWNER/NAME, as asked for */
  const char *image;        /* --image: the model's image, or NULL for the version's */
  const char *namespace;    /* metadata.namespace, or NULL to leave it to kubectl */
  const char *pinion_image; /* the image with pinion, for the director sidecar */
  const char *internal_url; /* the hub's internal listener, as the pods reach it */
  const char *queue;        /* redis://HOST[:PORT][/DB] (no password) */
  const char *queue_password_secret; /* a Secret with the key `password`, or NULL */
  const char *credential_secret;     /* a Secret with the key `credential` */
  int slots;                /* predictions one pod runs at once (>= 1) */
  long prediction_timeout;  /* seconds the longest prediction may take (>= 1) */
  int gpus;                 /* GPUs per pod; < 0: from the version and the hardware */
} pn_cli_kube_options;

/* The Kubernetes name of deployment OWNER/NAME: "pinion-owner-name" in lowercase, other
 * characters as '-', at most 63 (longer ones end in 8 hex digits of a hash so that two
 * deployments do not share a name). pn_malloc'd; NULL without memory. */
char *pn_cli_kube_name(const char *deployment);

/* Builds [Deployment, NetworkPolicy, ScaledObject] from the hub's answers to GET
 * /v1/deployments/OWNER/NAME (`deployment`) and GET
 * /v1/models/M/versions/ID/runtime (`runtime`), `length` bytes each. Returns 0 with
 * *manifests (a new reference), or PN_EINVAL (PN_ENOMEM) with *problem (pn_malloc'd, one
 * line saying what was wrong and what to do: a folder version without --image, an answer
 * that is not what the hub sends). */
int pn_cli_kube_manifests(const pn_cli_kube_options *options, const char *deployment,
                          size_t deployment_length, const char *runtime, size_t runtime_length,
                          json_t **manifests, char **problem);

/* The version a deployment answer names (for the second request): its model and
 * version id, pn_malloc'd; PN_EINVAL with *problem as above. */
int pn_cli_kube_release(const char *deployment, size_t length, char **model, char **version,
                        char **problem);

#endif
