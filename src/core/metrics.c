/* Prometheus metrics and their text format. See metrics.h.
 *
 * A metric holds one slot per series for its value (counters, gauges) or its buckets,
 * sum and count (histograms), all allocated when it is added. A histogram's buckets
 * count observations per bucket; the text wants them cumulative, so the writer adds
 * them up. Numbers are written in the shortest form that reads back as the same
 * double, as Prometheus's own clients write them ("0.005", "+Inf"), and whole numbers
 * (counts, bytes) in full ("80000000000", not "8e+10"). */
#include "core/metrics.h"

#include "core/alloc.h"
#include "core/error.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pn_metric {
  char *name;
  char *help;
  enum pn_metric_type type;
  char *label;         /* NULL: one series */
  char **label_values; /* `series` of them when labeled */
  size_t series;
  double *bounds; /* histograms: `bound_count` finite bounds; +Inf is implied */
  size_t bound_count;
  double *values;          /* counters, gauges: one per series */
  unsigned char *is_set;   /* gauges: whether the series has been set */
  uint64_t *bucket_counts; /* histograms: (bound_count + 1) per series, not cumulative */
  double *sums;            /* histograms: one per series */
  uint64_t *counts;        /* histograms: one per series */
};

struct pn_metrics {
  pn_metric *metrics[PN_METRICS_MAX];
  size_t count;
};

/* --- building -------------------------------------------------------------------- */

int pn_metrics_new(pn_metrics **set) {
  *set = pn_calloc(1, sizeof **set);
  return *set ? 0 : PN_ENOMEM;
}

static void metric_free(pn_metric *metric) {
  if (!metric)
    return;
  for (size_t i = 0; metric->label_values && i < metric->series; i++)
    pn_free(metric->label_values[i]);
  pn_free(metric->label_values);
  pn_free(metric->name);
  pn_free(metric->help);
  pn_free(metric->label);
  pn_free(metric->bounds);
  pn_free(metric->values);
  pn_free(metric->is_set);
  pn_free(metric->bucket_counts);
  pn_free(metric->sums);
  pn_free(metric->counts);
  pn_free(metric);
}

void pn_metrics_free(pn_metrics *set) {
  if (!set)
    return;
  for (size_t i = 0; i < set->count; i++)
    metric_free(set->metrics[i]);
  pn_free(set);
}

/* Prometheus's name rules: metric names may hold colons, label names may not. */
static int valid_name(const char *name, int allow_colon) {
  if (!name || !*name || strlen(name) > PN_METRICS_TEXT_LENGTH_MAX)
    return 0;
  for (const char *at = name; *at; at++) {
    char c = *at;
    int letter =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    if (!letter && !(at > name && c >= '0' && c <= '9'))
      return 0;
  }
  return 1;
}

static int ends_with(const char *text, const char *suffix) {
  size_t length = strlen(text), suffix_length = strlen(suffix);
  return length >= suffix_length && strcmp(text + length - suffix_length, suffix) == 0;
}

static int valid_text(const char *text) {
  return text && *text && strlen(text) <= PN_METRICS_TEXT_LENGTH_MAX;
}

/* Checks a spec against the rules in metrics.h before anything is allocated. */
static int check_spec(const pn_metric_spec *spec) {
  if (!valid_name(spec->name, 1) || !valid_text(spec->help))
    return PN_EINVAL;
  if ((spec->type == PN_METRIC_COUNTER) != ends_with(spec->name, "_total"))
    return PN_EINVAL; /* Prometheus's convention, which promtool checks */
  if (spec->label) {
    if (!valid_name(spec->label, 0) || strncmp(spec->label, "__", 2) == 0 ||
        (spec->type == PN_METRIC_HISTOGRAM && strcmp(spec->label, "le") == 0))
      return PN_EINVAL;
    if (spec->label_count == 0 || !spec->label_values)
      return PN_EINVAL;
    if (spec->label_count > PN_METRICS_SERIES_MAX)
      return PN_ETOOBIG;
    for (size_t i = 0; i < spec->label_count; i++) {
      if (!valid_text(spec->label_values[i]))
        return PN_EINVAL;
      for (size_t j = 0; j < i; j++)
        if (strcmp(spec->label_values[i], spec->label_values[j]) == 0)
          return PN_EINVAL;
    }
  } else if (spec->label_count || spec->label_values) {
    return PN_EINVAL;
  }
  if (spec->type != PN_METRIC_HISTOGRAM)
    return spec->bound_count || spec->bounds ? PN_EINVAL : 0;
  if (spec->bound_count == 0 || !spec->bounds)
    return PN_EINVAL;
  if (spec->bound_count > PN_METRICS_BOUNDS_MAX)
    return PN_ETOOBIG;
  for (size_t i = 0; i < spec->bound_count; i++)
    if (!isfinite(spec->bounds[i]) || (i > 0 && spec->bounds[i] <= spec->bounds[i - 1]))
      return PN_EINVAL;
  return 0;
}

static int fill_metric(pn_metric *metric, const pn_metric_spec *spec) {
  metric->name = pn_strdup(spec->name);
  metric->help = pn_strdup(spec->help);
  if (!metric->name || !metric->help)
    return PN_ENOMEM;
  metric->series = spec->label ? spec->label_count : 1;
  if (spec->label) {
    metric->label = pn_strdup(spec->label);
    metric->label_values = pn_calloc(spec->label_count, sizeof *metric->label_values);
    if (!metric->label || !metric->label_values)
      return PN_ENOMEM;
    for (size_t i = 0; i < spec->label_count; i++) {
      metric->label_values[i] = pn_strdup(spec->label_values[i]);
      if (!metric->label_values[i])
        return PN_ENOMEM;
    }
  }
  if (spec->type != PN_METRIC_HISTOGRAM) {
    metric->values = pn_calloc(metric->series, sizeof *metric->values);
    metric->is_set = pn_calloc(metric->series, 1);
    return metric->values && metric->is_set ? 0 : PN_ENOMEM;
  }
  metric->bound_count = spec->bound_count;
  metric->bounds = pn_calloc(spec->bound_count, sizeof *metric->bounds);
  metric->bucket_counts =
      pn_calloc(metric->series * (spec->bound_count + 1), sizeof *metric->bucket_counts);
  metric->sums = pn_calloc(metric->series, sizeof *metric->sums);
  metric->counts = pn_calloc(metric->series, sizeof *metric->counts);
  if (!metric->bounds || !metric->bucket_counts || !metric->sums || !metric->counts)
    return PN_ENOMEM;
  memcpy(metric->bounds, spec->bounds, spec->bound_count * sizeof *metric->bounds);
  return 0;
}

int pn_metrics_add(pn_metrics *set, const pn_metric_spec *spec, pn_metric **out) {
  *out = NULL;
  int rc = check_spec(spec);
  if (rc < 0)
    return rc;
  for (size_t i = 0; i < set->count; i++)
    if (strcmp(set->metrics[i]->name, spec->name) == 0)
      return PN_EEXISTS;
  if (set->count == PN_METRICS_MAX)
    return PN_ETOOBIG;
  pn_metric *metric = pn_calloc(1, sizeof *metric);
  if (!metric)
    return PN_ENOMEM;
  metric->type = spec->type;
  rc = fill_metric(metric, spec);
  if (rc < 0) {
    metric_free(metric);
    return rc;
  }
  set->metrics[set->count++] = metric;
  *out = metric;
  return 0;
}

/* --- the hot path ------------------------------------------------------------------ */

void pn_metric_add(pn_metric *metric, size_t series, double amount) {
  if (series >= metric->series || metric->type == PN_METRIC_HISTOGRAM ||
      (metric->type == PN_METRIC_COUNTER && !(amount >= 0)))
    return;
  metric->values[series] += amount;
  metric->is_set[series] = 1;
}

void pn_metric_set(pn_metric *metric, size_t series, double value) {
  if (series >= metric->series || metric->type == PN_METRIC_HISTOGRAM)
    return;
  metric->values[series] = value;
  metric->is_set[series] = 1;
}

void pn_metric_observe(pn_metric *metric, size_t series, double value) {
  if (series >= metric->series || metric->type != PN_METRIC_HISTOGRAM || isnan(value))
    return;
  size_t bucket = 0;
  while (bucket < metric->bound_count && value > metric->bounds[bucket])
    bucket++;
  metric->bucket_counts[series * (metric->bound_count + 1) + bucket]++;
  metric->sums[series] += value;
  metric->counts[series]++;
}

/* --- the text format ---------------------------------------------------------------- */

/* The shortest text that reads back as `value`, in the forms Prometheus parses. */
static const char *format_number(double value, char *out, size_t size) {
  if (isnan(value))
    return "NaN";
  if (isinf(value))
    return value > 0 ? "+Inf" : "-Inf";
  if (value == trunc(value) && fabs(value) < 1e17) { /* counts and bytes stay whole */
    snprintf(out, size, "%.0f", value);
    return out;
  }
  for (int precision = 1; precision <= 17; precision++) {
    snprintf(out, size, "%.*g", precision, value);
    if (strtod(out, NULL) == value)
      break;
  }
  return out;
}

/* HELP text escapes backslash and newline; label values also escape the double quote. */
static int append_escaped(pn_buf *out, const char *text, int quote) {
  int rc = 0;
  for (const char *at = text; *at && rc == 0; at++) {
    if (*at == '\\')
      rc = pn_buf_append(out, "\\\\", 2);
    else if (*at == '\n')
      rc = pn_buf_append(out, "\\n", 2);
    else if (quote && *at == '"')
      rc = pn_buf_append(out, "\\\"", 2);
    else
      rc = pn_buf_append(out, at, 1);
  }
  return rc;
}

/* One sample line: name, suffix, the series' label and an optional `le`, and a value
 * already formatted. */
static int append_sample(pn_buf *out, const pn_metric *metric, const char *suffix, size_t series,
                         const char *le, const char *value) {
  int rc = pn_buf_appendf(out, "%s%s", metric->name, suffix);
  if (rc == 0 && (metric->label || le)) {
    rc = pn_buf_append(out, "{", 1);
    if (rc == 0 && metric->label) {
      rc = pn_buf_appendf(out, "%s=\"", metric->label);
      if (rc == 0)
        rc = append_escaped(out, metric->label_values[series], 1);
      if (rc == 0)
        rc = pn_buf_append(out, le ? "\"," : "\"", le ? 2 : 1);
    }
    if (rc == 0 && le)
      rc = pn_buf_appendf(out, "le=\"%s\"", le);
    if (rc == 0)
      rc = pn_buf_append(out, "}", 1);
  }
  return rc == 0 ? pn_buf_appendf(out, " %s\n", value) : rc;
}

static int append_histogram_series(pn_buf *out, const pn_metric *metric, size_t series) {
  const uint64_t *buckets = metric->bucket_counts + series * (metric->bound_count + 1);
  uint64_t cumulative = 0;
  char le[32], value[32];
  int rc = 0;
  for (size_t i = 0; i <= metric->bound_count && rc == 0; i++) {
    cumulative += buckets[i];
    const char *bound =
        i < metric->bound_count ? format_number(metric->bounds[i], le, sizeof le) : "+Inf";
    snprintf(value, sizeof value, "%llu", (unsigned long long)cumulative);
    rc = append_sample(out, metric, "_bucket", series, bound, value);
  }
  if (rc == 0)
    rc = append_sample(out, metric, "_sum", series, NULL,
                       format_number(metric->sums[series], value, sizeof value));
  snprintf(value, sizeof value, "%llu", (unsigned long long)metric->counts[series]);
  return rc == 0 ? append_sample(out, metric, "_count", series, NULL, value) : rc;
}

static int append_metric(pn_buf *out, const pn_metric *metric) {
  static const char *type_names[] = {"counter", "gauge", "histogram"};
  size_t shown = 0;
  for (size_t i = 0; i < metric->series; i++)
    shown += metric->type != PN_METRIC_GAUGE || metric->is_set[i];
  if (shown == 0)
    return 0; /* a gauge nobody has set yet says nothing, not a made-up 0 */
  int rc = pn_buf_appendf(out, "# HELP %s ", metric->name);
  if (rc == 0)
    rc = append_escaped(out, metric->help, 0);
  if (rc == 0)
    rc = pn_buf_appendf(out, "\n# TYPE %s %s\n", metric->name, type_names[metric->type]);
  char value[32];
  for (size_t i = 0; i < metric->series && rc == 0; i++) {
    if (metric->type == PN_METRIC_HISTOGRAM)
      rc = append_histogram_series(out, metric, i);
    else if (metric->type == PN_METRIC_COUNTER || metric->is_set[i])
      rc = append_sample(out, metric, "", i, NULL,
                         format_number(metric->values[i], value, sizeof value));
  }
  return rc;
}

int pn_metrics_write(const pn_metrics *set, pn_buf *out) {
  int rc = 0;
  for (size_t i = 0; i < set->count && rc == 0; i++)
    rc = append_metric(out, set->metrics[i]);
  return rc;
}

/* --- families written by their owner ------------------------------------------------- */

int pn_metrics_write_header(pn_buf *out, const char *name, enum pn_metric_type type,
                            const char *help) {
  if (!valid_name(name, 1) || !valid_text(help) || type == PN_METRIC_HISTOGRAM ||
      (type == PN_METRIC_COUNTER) != ends_with(name, "_total"))
    return PN_EINVAL;
  int rc = pn_buf_appendf(out, "# HELP %s ", name);
  if (rc == 0)
    rc = append_escaped(out, help, 0);
  return rc == 0 ? pn_buf_appendf(out, "\n# TYPE %s %s\n", name,
                                  type == PN_METRIC_COUNTER ? "counter" : "gauge")
                 : rc;
}

int pn_metrics_write_sample(pn_buf *out, const char *name, const pn_metric_label *labels,
                            size_t label_count, double value) {
  if (!valid_name(name, 1))
    return PN_EINVAL;
  for (size_t i = 0; i < label_count; i++)
    if (!valid_name(labels[i].name, 0) || strncmp(labels[i].name, "__", 2) == 0 ||
        (labels[i].value && strlen(labels[i].value) > PN_METRICS_TEXT_LENGTH_MAX))
      return PN_EINVAL;
  int rc = pn_buf_append_str(out, name);
  size_t written = 0;
  for (size_t i = 0; i < label_count && rc == 0; i++) {
    if (!labels[i].value || !*labels[i].value)
      continue;
    rc = pn_buf_appendf(out, "%s%s=\"", written++ ? "," : "{", labels[i].name);
    if (rc == 0)
      rc = append_escaped(out, labels[i].value, 1);
    if (rc == 0)
      rc = pn_buf_append(out, "\"", 1);
  }
  if (rc == 0 && written)
    rc = pn_buf_append(out, "}", 1);
  char number[32];
  return rc == 0 ? pn_buf_appendf(out, " %s\n", format_number(value, number, sizeof number)) : rc;
}
