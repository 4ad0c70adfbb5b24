/* cog.yaml: finding it, loading it, checking it against Cog's contract (spec §1) and
 * holding the result. Every problem in a file is reported at once, with its line and
 * column, into a pn_diag_list; a config is only handed out when there are no errors. */
#ifndef PN_CONFIG_CONFIG_H
#define PN_CONFIG_CONFIG_H

#include "core/diag.h"

#include <jansson.h>
#include <stddef.h>

/* The name Cog looks for, and how far up the folder tree it looks. */
#define PN_CONFIG_FILE_NAME "cog.yaml"
#define PN_CONFIG_FIND_LEVELS 100
/* The largest cog.yaml pinion reads. */
#define PN_CONFIG_MAX_BYTES (1024 * 1024)

typedef struct pn_config_mount {
  char *type; /* always "secret" */
  char *id;
  char *target;
} pn_config_mount;

/* One `build.run` step: the plain string form has no mounts. */
typedef struct pn_config_run_step {
  char *command;
  size_t mount_count;
  pn_config_mount *mounts;
} pn_config_run_step;

/* One `source` of a managed weight (spec §1.5). */
typedef struct pn_config_weight_source {
  char *uri; /* hf://, file://, https:// or a local path */
  char **include;
  size_t include_count;
  char **exclude;
  size_t exclude_count;
} pn_config_weight_source;

typedef struct pn_config_weight {
  char *name;
  char *target; /* absolute path inside the container */
  pn_config_weight_source *sources;
  size_t source_count; /* at least 1 */
} pn_config_weight;

typedef struct pn_config {
  char *path; /* absolute path of the cog.yaml file */
  char *dir;  /* absolute path of its folder: the project root */
  char *run;  /* predictor reference from `run:` or legacy `predict:`; NULL when neither */
  int run_from_predict;           /* 1 when `run` came from the deprecated `predict:` key */
  char *train;                    /* `train:` or NULL */
  char *image;                    /* or NULL */
  char *model;                    /* or NULL */
  int concurrency_max;            /* 0 when unset */
  int concurrency_default_target; /* 0 when unset */
  char **environment;             /* "KEY=VALUE" strings in file order */
  size_t environment_count;
  struct {
    int present;               /* 1 when the file has a `build` section */
    char *python_version;      /* as written, e.g. "3.11"; NULL when no build section */
    char *python_requirements; /* path relative to dir, or NULL */
    char **python_packages;
    size_t python_packages_count;
    char **system_packages;
    size_t system_packages_count;
    int gpu;
    char *cuda;        /* as written, or NULL */
    char *cudnn;       /* as written, or NULL */
    char *sdk_version; /* as written, or NULL */
    pn_config_run_step *run;
    size_t run_count;
    char **pre_install;
    size_t pre_install_count;
  } build;
  pn_config_weight *weights;
  size_t weights_count;
  json_t *json; /* the config as a JSON object (jansson), for image labels; owned */
} pn_config;

/* Looks for `file_name` (normally "cog.yaml") in start_dir and then its parents, up to
 * PN_CONFIG_FIND_LEVELS levels. On success *path is a pn_malloc'd absolute path that the
 * caller frees. PN_ENOENT when none (the caller prints Cog's message "No cog.yaml found
 * in parent directories."), PN_ENOMEM, or PN_EIO when start_dir is relative and the
 * current folder cannot be read. */
int pn_config_find(const char *start_dir, const char *file_name, char **path);

/* Loads and validates the file at `path`. Every problem found goes into diags (errors
 * and deprecation warnings), all of them at once, each with file (`path` as given),
 * line, column and field. Returns 0 when there are no errors (warnings allowed) and sets
 * *config, which the caller frees with pn_config_free; PN_EPARSE when at least one error
 * was added (then *config is NULL); PN_ENOENT / PN_EIO when the file cannot be read
 * (nothing is added to diags); PN_ENOMEM. */
int pn_config_load(const char *path, pn_config **config, pn_diag_list *diags);

/* Parses YAML text that came from `display_path` (used in messages, and to find the
 * project folder for `build.python_requirements`); same contract as pn_config_load. The
 * text need not be NUL-terminated. PN_EIO when display_path is relative and the current
 * folder cannot be read. */
int pn_config_parse(const char *text, size_t length, const char *display_path, pn_config **config,
                    pn_diag_list *diags);

/* Frees the config and everything it holds; NULL is allowed. */
void pn_config_free(pn_config *config);

/* Splits a reference like "predict.py:Predictor" into the file ("predict.py") and the
 * attribute ("Predictor"); *attr is NULL when there is no ':'. Both are pn_malloc'd and
 * freed by the caller. PN_EINVAL when ref is NULL or empty, PN_ENOMEM. */
int pn_config_split_ref(const char *ref, char **file, char **attr);

#endif
