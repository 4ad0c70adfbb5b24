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

/* Labels a group's samples carry before the metric's own (pn_metrics_write_groups); a
 * label whose value is NULL or "" is left out. */
typedef struct group_labels {
  const pn_metric_label *labels;
  size_t count;
} group_labels;

static int append_label(pn_buf *out, size_t *written, const char *name, const char *value) {
  int rc = pn_buf_appendf(out, "%s%s=\"", (*written)++ ? "," : "{", name);
  if (rc == 0)
    rc = append_escaped(out, value, 1);
  return rc == 0 ? pn_buf_append(out, "\"", 1) : rc;
}

/* One sample line: name, suffix, the group's labels, the series' label and an optional
 * `le`, and a value already formatted. */
static int append_sample(pn_buf *out, const pn_metric *metric, const group_labels *group,
                         const char *suffix, size_t series, const char *le, const char *value) {
  int rc = pn_buf_appendf(out, "%s%s", metric->name, suffix);
  size_t written = 0;
  for (size_t i = 0; i < group->count && rc == 0; i++)
    if (group->labels[i].value && *group->labels[i].value)
      rc = append_label(out, &written, group->labels[i].name, group->labels[i].value);
  if (rc == 0 && metric->label)
    rc = append_label(out, &written, metric->label, metric->label_values[series]);
  if (rc == 0 && le)
    rc = pn_buf_appendf(out, "%sle=\"%s\"", written++ ? "," : "{", le);
  if (rc == 0 && written)
    rc = pn_buf_append(out, "}", 1);
  return rc == 0 ? pn_buf_appendf(out, " %s\n", value) : rc;
}

static int append_histogram_series(pn_buf *out, const pn_metric *metric, const group_labels *group,
                                   size_t series) {
  const uint64_t *buckets = metric->bucket_counts + series * (metric->bound_count + 1);
  uint64_t cumulative = 0;
  char le[32], value[32];
  int rc = 0;
  for (size_t i = 0; i <= metric->bound_count && rc == 0; i++) {
    cumulative += buckets[i];
    const char *bound =
        i < metric->bound_count ? format_number(metric->bounds[i], le, sizeof le) : "+Inf";
    snprintf(value, sizeof value, "%llu", (unsigned long long)cumulative);
    rc = append_sample(out, metric, group, "_bucket", series, bound, value);
  }
  if (rc == 0)
    rc = append_sample(out, metric, group, "_sum", series, NULL,
                       format_number(metric->sums[series], value, sizeof value));
  snprintf(value, sizeof value, "%llu", (unsigned long long)metric->counts[series]);
  return rc == 0 ? append_sample(out, metric, group, "_count", series, NULL, value) : rc;
}

static size_t shown_series(const pn_metric *metric) {
  size_t shown = 0;
  for (size_t i = 0; i < metric->series; i++)
    shown += metric->type != PN_METRIC_GAUGE || metric->is_set[i];
  return shown;
}

static int append_series(pn_buf *out, const pn_metric *metric, const group_labels *group) {
  char value[32];
  int rc = 0;
  for (size_t i = 0; i < metric->series && rc == 0; i++) {
    if (metric->type == PN_METRIC_HISTOGRAM)
      rc = append_histogram_series(out, metric, group, i);
    else if (metric->type == PN_METRIC_COUNTER || metric->is_set[i])
      rc = append_sample(out, metric, group, "", i, NULL,
                         format_number(metric->values[i], value, sizeof value));
  }
  return rc;
}

/* The family of metric `index` of every group's set: its HELP and TYPE (the first
 * set's) once, then each group's series. A gauge nobody has set yet says nothing, not a
 * made-up 0. */
static int append_family(pn_buf *out, const pn_metrics_group *groups, size_t count, size_t index) {
  static const char *type_names[] = {"counter", "gauge", "histogram"};
  const pn_metric *first = groups[0].set->metrics[index];
  size_t shown = 0;
  for (size_t g = 0; g < count; g++)
    shown += shown_series(groups[g].set->metrics[index]);
  if (shown == 0)
    return 0;
  int rc = pn_buf_appendf(out, "# HELP %s ", first->name);
  if (rc == 0)
    rc = append_escaped(out, first->help, 0);
  if (rc == 0)
    rc = pn_buf_appendf(out, "\n# TYPE %s %s\n", first->name, type_names[first->type]);
  for (size_t g = 0; g < count && rc == 0; g++) {
    group_labels labels = {groups[g].labels, groups[g].label_count};
    rc = append_series(out, groups[g].set->metrics[index], &labels);
  }
  return rc;
}

/* Whether every group's set has the same metrics (name, type, label and buckets), in
 * the same order, and labels of its own that collide with none of theirs. */
static int groups_match(const pn_metrics_group *groups, size_t count) {
  const pn_metrics *first = groups[0].set;
  for (size_t g = 0; g < count; g++) {
    const pn_metrics *set = groups[g].set;
    if (set->count != first->count)
      return 0;
    for (size_t i = 0; i < set->count; i++) {
      const pn_metric *a = first->metrics[i], *b = set->metrics[i];
      if (strcmp(a->name, b->name) != 0 || a->type != b->type || a->series != b->series ||
          (a->label == NULL) != (b->label == NULL) || (a->label && strcmp(a->label, b->label)) ||
          a->bound_count != b->bound_count ||
          (a->bound_count && memcmp(a->bounds, b->bounds, a->bound_count * sizeof *a->bounds)))
        return 0;
    }
    for (size_t l = 0; l < groups[g].label_count; l++) {
      const pn_metric_label *label = &groups[g].labels[l];
      if (!valid_name(label->name, 0) || strncmp(label->name, "__", 2) == 0 ||
          strcmp(label->name, "le") == 0 ||
          (label->value && strlen(label->value) > PN_METRICS_TEXT_LENGTH_MAX))
        return 0;
      for (size_t i = 0; i < set->count; i++)
        if (set->metrics[i]->label && strcmp(set->metrics[i]->label, label->name) == 0)
          return 0;
    }
  }
  return 1;
}

int pn_metrics_write_groups(const pn_metrics_group *groups, size_t count, pn_buf *out) {
  if (count == 0)
    return 0;
  if (!groups_match(groups, count))
    return PN_EINVAL;
  int rc = 0;
  for (size_t i = 0; i < groups[0].set->count && rc == 0; i++)
    rc = append_family(out, groups, count, i);
  return rc;
}

int pn_metrics_write(const pn_metrics *set, pn_buf *out) {
  return pn_metrics_write_groups(&(pn_metrics_group){.set = set}, 1, out);
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
    if (labels[i].value && *labels[i].value)
      rc = append_label(out, &written, labels[i].name, labels[i].value);
  }
  if (rc == 0 && written)
    rc = pn_buf_append(out, "}", 1);
  char number[32];
  return rc == 0 ? pn_buf_appendf(out, " %s\n", format_number(value, number, sizeof number)) : rc;
}
