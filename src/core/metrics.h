/* A small set of Prometheus metrics — counters, gauges and histograms, each with at
 * most one label whose values are fixed when the metric is added — and the writer of
 * Prometheus's text exposition format 0.0.4. Everything is allocated when a metric is
 * added; counting, setting and observing touch only numbers already in place, so the
 * hot path (a prediction ending) never allocates. Not thread-safe: the event loop that
 * owns a set is its only user. The names and meanings of pinion's metrics are in
 * docs/metrics.md. */
#ifndef PN_CORE_METRICS_H
#define PN_CORE_METRICS_H

#include "core/buf.h"

#include <stddef.h>

/* The Content-Type of pn_metrics_write's text. */
#define PN_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Limits checked when a metric is added: metrics in a set, label values (series) per
 * metric, finite bucket bounds per histogram, and bytes of a name, label or help text. */
#define PN_METRICS_MAX 64
#define PN_METRICS_SERIES_MAX 64
#define PN_METRICS_BOUNDS_MAX 32
#define PN_METRICS_TEXT_LENGTH_MAX 512
/* A ceiling for the buffer the text is written into: far more than pinion's sets need. */
#define PN_METRICS_OUTPUT_MAX (4u * 1024u * 1024u)

enum pn_metric_type { PN_METRIC_COUNTER, PN_METRIC_GAUGE, PN_METRIC_HISTOGRAM };

typedef struct pn_metrics pn_metrics;
typedef struct pn_metric pn_metric;

typedef struct pn_metric_spec {
  const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]*; a counter's ends in "_total" */
  const char *help; /* one line or more; escaped when written */
  enum pn_metric_type type;
  /* One label ([a-zA-Z_][a-zA-Z0-9_]*, not "__…", not "le" on a histogram) and its
   * values, one series each, in the order given; NULL and 0 for one unlabeled series. */
  const char *label;
  const char *const *label_values;
  size_t label_count;
  /* Histograms: the buckets' upper bounds, finite and strictly ascending; the +Inf
   * bucket is added. */
  const double *bounds;
  size_t bound_count;
} pn_metric_spec;

/* A new, empty set. The caller frees it with pn_metrics_free. */
int pn_metrics_new(pn_metrics **set);
/* Frees the set and every metric in it. NULL is fine. */
void pn_metrics_free(pn_metrics *set);

/* Adds a metric described by `spec` (every string and array is copied). *metric
 * belongs to the set and lives as long as it. PN_EINVAL for a name, label, label value,
 * help text or bucket list that breaks the rules above; PN_EEXISTS for a name the set
 * already has; PN_ETOOBIG past a limit. Counters start at 0, histograms empty; a
 * gauge's series are left out of the text until they are first set. */
int pn_metrics_add(pn_metrics *set, const pn_metric_spec *spec, pn_metric **metric);

/* The hot path. A series is the index of its label value (0 for an unlabeled metric);
 * an index out of range, or a call that does not fit the metric's type, is ignored.
 * Adds `amount` to a counter (amount >= 0) or a gauge. */
void pn_metric_add(pn_metric *metric, size_t series, double amount);
/* Sets a gauge, or a counter whose count is kept elsewhere (it must never go down). */
void pn_metric_set(pn_metric *metric, size_t series, double value);
/* Records one observation in a histogram. */
void pn_metric_observe(pn_metric *metric, size_t series, double value);

/* Appends every metric in the order they were added, in the text format (HELP, TYPE,
 * then one line per series; a histogram's buckets are cumulative). PN_ETOOBIG when
 * `out`'s ceiling is reached. */
int pn_metrics_write(const pn_metrics *set, pn_buf *out);

/* Metrics whose series are known only when they are written (the hub's gauges, one series
 * per deployment): the caller writes a family's header, then its samples, each with any
 * number of labels. Names and labels follow the rules above (PN_EINVAL otherwise, with
 * nothing appended); label values are escaped. A label whose value is NULL or "" is
 * left out, as Prometheus reads an empty label. */
typedef struct pn_metric_label {
  const char *name;
  const char *value;
} pn_metric_label;

/* Sets of the same metrics, one per thing measured apart (the hub's, one set per
 * deployment or version): every set added the same specs in the same order, and each
 * carries labels of its own (a NULL or "" value is left out; none may be "le" or a
 * metric's own label). The hot path stays the set's own (pn_metric_add, ...). */
typedef struct pn_metrics_group {
  const pn_metrics *set;
  const pn_metric_label *labels;
  size_t label_count;
} pn_metrics_group;

/* Appends every metric of the groups as one family each: its HELP and TYPE once, then
 * each group's series, in the groups' order, with the group's labels before the
 * metric's own. PN_EINVAL, with nothing appended, when the sets differ or a group's
 * labels break the rules; PN_ETOOBIG as pn_metrics_write. pn_metrics_write is this with
 * one unlabeled group. */
int pn_metrics_write_groups(const pn_metrics_group *groups, size_t count, pn_buf *out);

/* Appends `# HELP name help` and `# TYPE name type` (counters and gauges only). */
int pn_metrics_write_header(pn_buf *out, const char *name, enum pn_metric_type type,
                            const char *help);
/* Appends one sample line: `name{labels} value`. */
int pn_metrics_write_sample(pn_buf *out, const char *name, const pn_metric_label *labels,
                            size_t label_count, double value);

/* Reads one sample back from text in that format (another pinion's GET /metrics, which
 * the hub reads for `pinion_slots`): the value of the first line that is `name`, with no
 * labels, then spaces or tabs and a number (a timestamp may follow). Comment lines and
 * other metrics are skipped. 0 and *value set when found; PN_ENOENT when no such line;
 * PN_EINVAL when the line is there but its value is not a finite number. `text` need
 * not end in a NUL. src/core/metrics_read.c; fuzzed by fuzz_metrics_read. */
int pn_metrics_read_sample(const char *text, size_t length, const char *name, double *value);

#endif
