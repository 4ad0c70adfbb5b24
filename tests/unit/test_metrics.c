/* Unit tests for core/metrics.c: the text each kind of metric writes, the rules a
 * metric must follow to be added, and failures (memory, the output's ceiling); and for
 * core/metrics_read.c, which reads one sample back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/prediction_metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const statuses[] = {"succeeded", "failed", "canceled"};
static const double seconds[] = {0.005, 0.1, 1, 10};

static char *write_all(const pn_metrics *set) {
  pn_buf text;
  pn_buf_init(&text, PN_METRICS_OUTPUT_MAX);
  assert_int_equal(pn_metrics_write(set, &text), 0);
  return pn_buf_take(&text);
}

static void expect_text(const pn_metrics *set, const char *expected) {
  char *text = write_all(set);
  assert_string_equal(text, expected);
  pn_free(text);
}

static void a_labeled_counter_shows_every_series_from_zero(void **state) {
  pn_metrics *set = NULL;
  pn_metric *predictions = NULL;
  assert_int_equal(pn_metrics_new(&set), 0);
  pn_metric_spec spec = {.name = "pinion_predictions_total",
                         .help = "Predictions that ended, by status.",
                         .type = PN_METRIC_COUNTER,
                         .label = "status",
                         .label_values = statuses,
                         .label_count = 3};
  assert_int_equal(pn_metrics_add(set, &spec, &predictions), 0);
  expect_text(set, "# HELP pinion_predictions_total Predictions that ended, by status.\n"
                   "# TYPE pinion_predictions_total counter\n"
                   "pinion_predictions_total{status=\"succeeded\"} 0\n"
                   "pinion_predictions_total{status=\"failed\"} 0\n"
                   "pinion_predictions_total{status=\"canceled\"} 0\n");
  pn_metric_add(predictions, 0, 1);
  pn_metric_add(predictions, 0, 1);
  pn_metric_add(predictions, 1, 1);
  pn_metric_add(predictions, 3, 1);     /* no such series: ignored */
  pn_metric_add(predictions, 2, -1);    /* a counter never goes down: ignored */
  pn_metric_observe(predictions, 0, 5); /* not a histogram: ignored */
  expect_text(set, "# HELP pinion_predictions_total Predictions that ended, by status.\n"
                   "# TYPE pinion_predictions_total counter\n"
                   "pinion_predictions_total{status=\"succeeded\"} 2\n"
                   "pinion_predictions_total{status=\"failed\"} 1\n"
                   "pinion_predictions_total{status=\"canceled\"} 0\n");
  pn_metrics_free(set);
}

static void a_histogram_counts_each_bucket_cumulatively(void **state) {
  pn_metrics *set = NULL;
  pn_metric *duration = NULL;
  assert_int_equal(pn_metrics_new(&set), 0);
  pn_metric_spec spec = {.name = "pinion_prediction_duration_seconds",
                         .help = "Time from acceptance to the end.",
                         .type = PN_METRIC_HISTOGRAM,
                         .bounds = seconds,
                         .bound_count = 4};
  assert_int_equal(pn_metrics_add(set, &spec, &duration), 0);
  pn_metric_observe(duration, 0, 0.1); /* a bound belongs to its own bucket (le) */
  pn_metric_observe(duration, 0, 0.25);
  pn_metric_observe(duration, 0, 0.5);
  pn_metric_observe(duration, 0, 60);  /* only in +Inf */
  pn_metric_observe(duration, 0, NAN); /* ignored */
  pn_metric_add(duration, 0, 1);       /* not a counter: ignored */
  expect_text(set, "# HELP pinion_prediction_duration_seconds Time from acceptance to the end.\n"
                   "# TYPE pinion_prediction_duration_seconds histogram\n"
                   "pinion_prediction_duration_seconds_bucket{le=\"0.005\"} 0\n"
                   "pinion_prediction_duration_seconds_bucket{le=\"0.1\"} 1\n"
                   "pinion_prediction_duration_seconds_bucket{le=\"1\"} 3\n"
                   "pinion_prediction_duration_seconds_bucket{le=\"10\"} 3\n"
                   "pinion_prediction_duration_seconds_bucket{le=\"+Inf\"} 4\n"
                   "pinion_prediction_duration_seconds_sum 60.85\n"
                   "pinion_prediction_duration_seconds_count 4\n");
  pn_metrics_free(set);
}

static void a_labeled_histogram_puts_le_after_its_label(void **state) {
  static const char *const kinds[] = {"a", "b"};
  static const double one[] = {1};
  pn_metrics *set = NULL;
  pn_metric *sizes = NULL;
  assert_int_equal(pn_metrics_new(&set), 0);
  pn_metric_spec spec = {.name = "x_size",
                         .help = "h",
                         .type = PN_METRIC_HISTOGRAM,
                         .label = "kind",
                         .label_values = kinds,
                         .label_count = 2,
                         .bounds = one,
                         .bound_count = 1};
  assert_int_equal(pn_metrics_add(set, &spec, &sizes), 0);
  pn_metric_observe(sizes, 1, 2);
  expect_text(set, "# HELP x_size h\n# TYPE x_size histogram\n"
                   "x_size_bucket{kind=\"a\",le=\"1\"} 0\n"
                   "x_size_bucket{kind=\"a\",le=\"+Inf\"} 0\n"
                   "x_size_sum{kind=\"a\"} 0\n"
                   "x_size_count{kind=\"a\"} 0\n"
                   "x_size_bucket{kind=\"b\",le=\"1\"} 0\n"
                   "x_size_bucket{kind=\"b\",le=\"+Inf\"} 1\n"
                   "x_size_sum{kind=\"b\"} 2\n"
                   "x_size_count{kind=\"b\"} 1\n");
  pn_metrics_free(set);
}

static void a_gauge_shows_only_the_series_that_were_set(void **state) {
  static const char *const gpus[] = {"0", "1"};
  pn_metrics *set = NULL;
  pn_metric *setup = NULL, *memory = NULL;
  assert_int_equal(pn_metrics_new(&set), 0);
  pn_metric_spec setup_spec = {
      .name = "pinion_setup_duration_seconds", .help = "Setup.", .type = PN_METRIC_GAUGE};
  pn_metric_spec memory_spec = {.name = "pinion_gpu_memory_used_bytes",
                                .help = "Used.",
                                .type = PN_METRIC_GAUGE,
                                .label = "gpu",
                                .label_values = gpus,
                                .label_count = 2};
  assert_int_equal(pn_metrics_add(set, &setup_spec, &setup), 0);
  assert_int_equal(pn_metrics_add(set, &memory_spec, &memory), 0);
  expect_text(set, ""); /* nothing measured yet: nothing said */
  pn_metric_set(memory, 1, 80e9);
  pn_metric_set(setup, 0, 0.125);
  pn_metric_add(setup, 0, 1);
  expect_text(set, "# HELP pinion_setup_duration_seconds Setup.\n"
                   "# TYPE pinion_setup_duration_seconds gauge\n"
                   "pinion_setup_duration_seconds 1.125\n"
                   "# HELP pinion_gpu_memory_used_bytes Used.\n"
                   "# TYPE pinion_gpu_memory_used_bytes gauge\n"
                   "pinion_gpu_memory_used_bytes{gpu=\"1\"} 80000000000\n");
  pn_metrics_free(set);
}

static void numbers_are_written_in_their_shortest_exact_form(void **state) {
  pn_metrics *set = NULL;
  pn_metric *value = NULL;
  assert_int_equal(pn_metrics_new(&set), 0);
  pn_metric_spec spec = {.name = "v", .help = "h", .type = PN_METRIC_GAUGE};
  assert_int_equal(pn_metrics_add(set, &spec, &value), 0);
  struct {
    double value;
    const char *text;
  } cases[] = {{0.1, "0.1"},
               {123456789, "123456789"},
               {1.0 / 3, "0.3333333333333333"},
               {9007199254740993.0, "9007199254740992"},
               {-2.5, "-2.5"},
               {INFINITY, "+Inf"},
               {-INFINITY, "-Inf"},
               {NAN, "NaN"},
               {0, "0"},
               {1.5e-7, "1.5e-07"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pn_metric_set(value, 0, cases[i].value);
    char expected[128];
    snprintf(expected, sizeof expected, "# HELP v h\n# TYPE v gauge\nv %s\n", cases[i].text);
    expect_text(set, expected);
  }
  pn_metrics_free(set);
}

static void help_and_label_values_are_escaped(void **state) {
  static const char *const odd[] = {"a\"b\\c\nd"};
  pn_metrics *set = NULL;
  pn_metric *metric = NULL;
  assert_int_equal(pn_metrics_new(&set), 0);
  pn_metric_spec spec = {.name = "odd_total",
                         .help = "line one\nback\\slash \"quoted\"",
                         .type = PN_METRIC_COUNTER,
                         .label = "why",
                         .label_values = odd,
                         .label_count = 1};
  assert_int_equal(pn_metrics_add(set, &spec, &metric), 0);
  expect_text(set, "# HELP odd_total line one\\nback\\\\slash \"quoted\"\n"
                   "# TYPE odd_total counter\n"
                   "odd_total{why=\"a\\\"b\\\\c\\nd\"} 0\n");
  pn_metrics_free(set);
}

static int add_result(pn_metric_spec spec) {
  pn_metrics *set = NULL;
  pn_metric *metric = NULL;
  assert_int_equal(pn_metrics_new(&set), 0);
  int rc = pn_metrics_add(set, &spec, &metric);
  assert_true(rc == 0 ? metric != NULL : metric == NULL);
  pn_metrics_free(set);
  return rc;
}

static void a_metric_that_breaks_the_rules_is_refused(void **state) {
  static const char *const twice[] = {"x", "x"};
  static const char *const one[] = {"x"};
  static const double unsorted[] = {1, 0.5};
  static const double not_finite[] = {1, INFINITY};
  static const char *many[PN_METRICS_SERIES_MAX + 1];
  for (size_t i = 0; i <= PN_METRICS_SERIES_MAX; i++)
    many[i] = statuses[0]; /* refused for the count before the duplicates are seen */
  pn_metric_spec good = {.name = "ok_total", .help = "h", .type = PN_METRIC_COUNTER};
  assert_int_equal(add_result(good), 0);
  pn_metric_spec spec = good;
  spec.name = "9lives_total";
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec.name = "has-dash_total";
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec.name = "ns:ok_total"; /* colons are allowed in metric names */
  assert_int_equal(add_result(spec), 0);
  spec.name = "no_suffix"; /* a counter's name ends in _total */
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec = good;
  spec.type = PN_METRIC_GAUGE; /* and only a counter's */
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec = good;
  spec.help = "";
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec = good;
  spec.label = "__reserved";
  spec.label_values = one;
  spec.label_count = 1;
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec.label = "a:b";
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec.label = "x";
  spec.label_values = twice;
  spec.label_count = 2;
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec.label_values = many;
  spec.label_count = PN_METRICS_SERIES_MAX + 1;
  assert_int_equal(add_result(spec), PN_ETOOBIG);
  spec.label_count = 0;
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec = good;
  spec.bounds = seconds; /* bounds belong to histograms */
  spec.bound_count = 4;
  assert_int_equal(add_result(spec), PN_EINVAL);
  pn_metric_spec histogram = {.name = "h_seconds",
                              .help = "h",
                              .type = PN_METRIC_HISTOGRAM,
                              .bounds = seconds,
                              .bound_count = 4};
  assert_int_equal(add_result(histogram), 0);
  spec = histogram;
  spec.label = "le";
  spec.label_values = one;
  spec.label_count = 1;
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec = histogram;
  spec.bounds = unsorted;
  spec.bound_count = 2;
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec.bounds = not_finite;
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec.bound_count = 0;
  assert_int_equal(add_result(spec), PN_EINVAL);
  spec = histogram;
  spec.bound_count = PN_METRICS_BOUNDS_MAX + 1;
  assert_int_equal(add_result(spec), PN_ETOOBIG);
}

static void a_set_refuses_a_second_metric_of_a_name_and_has_a_ceiling(void **state) {
  pn_metrics *set = NULL;
  pn_metric *metric = NULL;
  assert_int_equal(pn_metrics_new(&set), 0);
  pn_metric_spec spec = {.name = "same", .help = "h", .type = PN_METRIC_GAUGE};
  assert_int_equal(pn_metrics_add(set, &spec, &metric), 0);
  assert_int_equal(pn_metrics_add(set, &spec, &metric), PN_EEXISTS);
  assert_null(metric);
  char name[32];
  for (int i = 1; i < PN_METRICS_MAX; i++) {
    snprintf(name, sizeof name, "g%d", i);
    spec.name = name;
    assert_int_equal(pn_metrics_add(set, &spec, &metric), 0);
  }
  spec.name = "one_too_many";
  assert_int_equal(pn_metrics_add(set, &spec, &metric), PN_ETOOBIG);
  pn_metrics_free(set);
}

static void writing_past_the_buffers_ceiling_fails(void **state) {
  pn_metrics *set = NULL;
  pn_metric *metric = NULL;
  assert_int_equal(pn_metrics_new(&set), 0);
  pn_metric_spec spec = {.name = "c_total", .help = "a counter", .type = PN_METRIC_COUNTER};
  assert_int_equal(pn_metrics_add(set, &spec, &metric), 0);
  pn_buf text;
  pn_buf_init(&text, 20);
  assert_int_equal(pn_metrics_write(set, &text), PN_ETOOBIG);
  pn_buf_free(&text);
  pn_metrics_free(set);
}

/* Every allocation in building a set fails in turn; each failure is reported and
 * leaves nothing behind (ASan checks the leaks). */
static void every_allocation_failure_is_reported(void **state) {
  static const double bounds[] = {1, 2};
  pn_metric_spec specs[] = {
      {.name = "a_total",
       .help = "h",
       .type = PN_METRIC_COUNTER,
       .label = "status",
       .label_values = statuses,
       .label_count = 3},
      {.name = "b",
       .help = "h",
       .type = PN_METRIC_HISTOGRAM,
       .label = "status",
       .label_values = statuses,
       .label_count = 3,
       .bounds = bounds,
       .bound_count = 2},
  };
  int succeeded = 0;
  for (long count = 0; count < 100 && !succeeded; count++) {
    pn_alloc_fail_after(count);
    pn_metrics *set = NULL;
    pn_metric *metric = NULL;
    int rc = pn_metrics_new(&set);
    for (size_t i = 0; rc == 0 && i < 2; i++)
      rc = pn_metrics_add(set, &specs[i], &metric);
    pn_alloc_fail_after(-1);
    assert_true(rc == 0 || rc == PN_ENOMEM);
    succeeded = rc == 0;
    pn_metrics_free(set);
  }
  assert_true(succeeded);
}


static void families_written_by_their_owner_take_several_labels(void **state) {
  pn_buf text;
  pn_buf_init(&text, PN_METRICS_OUTPUT_MAX);
  pn_metric_label deployment[] = {{"deployment", "alice/\"quoted\"\\x"}, {"version", "abc"}};
  pn_metric_label version_only[] = {{"deployment", ""}, {"version", "def"}, {"mode", NULL}};
  assert_int_equal(pn_metrics_write_header(&text, "pinion_queue_depth", PN_METRIC_GAUGE,
                                           "Queued.\nWaiting."),
                   0);
  assert_int_equal(pn_metrics_write_sample(&text, "pinion_queue_depth", deployment, 2, 3), 0);
  assert_int_equal(pn_metrics_write_sample(&text, "pinion_queue_depth", version_only, 3, 0.5), 0);
  assert_int_equal(pn_metrics_write_sample(&text, "pinion_queue_depth", NULL, 0, 7), 0);
  assert_int_equal(pn_metrics_write_header(&text, "pinion_things_total", PN_METRIC_COUNTER, "T."),
                   0);
  char *written = pn_buf_take(&text);
  assert_string_equal(written,
                      "# HELP pinion_queue_depth Queued.\\nWaiting.\n"
                      "# TYPE pinion_queue_depth gauge\n"
                      "pinion_queue_depth{deployment=\"alice/\\\"quoted\\\"\\\\x\",version=\"abc\"} 3\n"
                      "pinion_queue_depth{version=\"def\"} 0.5\n"
                      "pinion_queue_depth 7\n"
                      "# HELP pinion_things_total T.\n"
                      "# TYPE pinion_things_total counter\n");
  pn_free(written);
}

/* A set of a counter with its own label and a histogram: one such set per group. */
static pn_metrics *group_set(pn_metric **counter, pn_metric **histogram) {
  pn_metrics *set = NULL;
  assert_int_equal(pn_metrics_new(&set), 0);
  assert_int_equal(pn_metrics_add(set,
                                  &(pn_metric_spec){.name = "pinion_done_total",
                                                    .help = "Done.",
                                                    .type = PN_METRIC_COUNTER,
                                                    .label = "status",
                                                    .label_values = statuses,
                                                    .label_count = 2},
                                  counter),
                   0);
  assert_int_equal(pn_metrics_add(set,
                                  &(pn_metric_spec){.name = "pinion_took_seconds",
                                                    .help = "Took.",
                                                    .type = PN_METRIC_HISTOGRAM,
                                                    .bounds = seconds,
                                                    .bound_count = 1},
                                  histogram),
                   0);
  return set;
}

static void groups_share_each_familys_header_and_carry_their_own_labels(void **state) {
  pn_metric *others_done, *others_took, *alice_done, *alice_took;
  pn_metrics *others = group_set(&others_done, &others_took);
  pn_metrics *alice = group_set(&alice_done, &alice_took);
  pn_metric_add(others_done, 1, 2);
  pn_metric_add(alice_done, 0, 1);
  pn_metric_observe(alice_took, 0, 0.5);
  pn_metric_label alice_labels[] = {{"deployment", "alice/\"x\""}, {"mode", ""}, {"version", "v1"}};
  pn_metrics_group groups[] = {{.set = others}, {alice, alice_labels, 3}};
  pn_buf text;
  pn_buf_init(&text, PN_METRICS_OUTPUT_MAX);
  assert_int_equal(pn_metrics_write_groups(groups, 2, &text), 0);
  char *written = pn_buf_take(&text);
  assert_string_equal(
      written,
      "# HELP pinion_done_total Done.\n"
      "# TYPE pinion_done_total counter\n"
      "pinion_done_total{status=\"succeeded\"} 0\n"
      "pinion_done_total{status=\"failed\"} 2\n"
      "pinion_done_total{deployment=\"alice/\\\"x\\\"\",version=\"v1\",status=\"succeeded\"} 1\n"
      "pinion_done_total{deployment=\"alice/\\\"x\\\"\",version=\"v1\",status=\"failed\"} 0\n"
      "# HELP pinion_took_seconds Took.\n"
      "# TYPE pinion_took_seconds histogram\n"
      "pinion_took_seconds_bucket{le=\"0.005\"} 0\n"
      "pinion_took_seconds_bucket{le=\"+Inf\"} 0\n"
      "pinion_took_seconds_sum 0\n"
      "pinion_took_seconds_count 0\n"
      "pinion_took_seconds_bucket{deployment=\"alice/\\\"x\\\"\",version=\"v1\",le=\"0.005\"} 0\n"
      "pinion_took_seconds_bucket{deployment=\"alice/\\\"x\\\"\",version=\"v1\",le=\"+Inf\"} 1\n"
      "pinion_took_seconds_sum{deployment=\"alice/\\\"x\\\"\",version=\"v1\"} 0.5\n"
      "pinion_took_seconds_count{deployment=\"alice/\\\"x\\\"\",version=\"v1\"} 1\n");
  pn_free(written);
  pn_metrics_free(others);
  pn_metrics_free(alice);
}

static void groups_of_different_sets_or_clashing_labels_are_refused(void **state) {
  pn_metric *done, *took, *other;
  pn_metrics *set = group_set(&done, &took);
  pn_metrics *shorter = NULL;
  assert_int_equal(pn_metrics_new(&shorter), 0);
  assert_int_equal(pn_metrics_add(shorter,
                                  &(pn_metric_spec){.name = "pinion_done_total",
                                                    .help = "Done.",
                                                    .type = PN_METRIC_COUNTER,
                                                    .label = "status",
                                                    .label_values = statuses,
                                                    .label_count = 2},
                                  &other),
                   0);
  pn_metric_label clash[] = {{"status", "x"}};
  pn_metric_label le[] = {{"le", "1"}};
  pn_metric_label reserved[] = {{"__name__", "x"}};
  pn_buf text;
  pn_buf_init(&text, PN_METRICS_OUTPUT_MAX);
  assert_int_equal(
      pn_metrics_write_groups((pn_metrics_group[]){{.set = set}, {.set = shorter}}, 2, &text),
      PN_EINVAL);
  assert_int_equal(pn_metrics_write_groups((pn_metrics_group[]){{set, clash, 1}}, 1, &text),
                   PN_EINVAL);
  assert_int_equal(pn_metrics_write_groups((pn_metrics_group[]){{set, le, 1}}, 1, &text),
                   PN_EINVAL);
  assert_int_equal(pn_metrics_write_groups((pn_metrics_group[]){{set, reserved, 1}}, 1, &text),
                   PN_EINVAL);
  assert_int_equal(text.length, 0);
  assert_int_equal(pn_metrics_write_groups(NULL, 0, &text), 0);
  assert_int_equal(text.length, 0);
  pn_buf_free(&text);
  pn_metrics_free(set);
  pn_metrics_free(shorter);
}

static void families_refuse_bad_names_and_append_nothing(void **state) {
  pn_buf text;
  pn_buf_init(&text, PN_METRICS_OUTPUT_MAX);
  pn_metric_label bad_label[] = {{"9lives", "x"}};
  pn_metric_label reserved[] = {{"__name__", "x"}};
  assert_int_equal(pn_metrics_write_header(&text, "pinion_depth_total", PN_METRIC_GAUGE, "x"),
                   PN_EINVAL);
  assert_int_equal(pn_metrics_write_header(&text, "pinion_things", PN_METRIC_COUNTER, "x"),
                   PN_EINVAL);
  assert_int_equal(pn_metrics_write_header(&text, "pinion_h", PN_METRIC_HISTOGRAM, "x"),
                   PN_EINVAL);
  assert_int_equal(pn_metrics_write_header(&text, "bad name", PN_METRIC_GAUGE, "x"), PN_EINVAL);
  assert_int_equal(pn_metrics_write_sample(&text, "pinion_depth", bad_label, 1, 1), PN_EINVAL);
  assert_int_equal(pn_metrics_write_sample(&text, "pinion_depth", reserved, 1, 1), PN_EINVAL);
  assert_int_equal(pn_metrics_write_sample(&text, "", NULL, 0, 1), PN_EINVAL);
  assert_int_equal(text.length, 0);
  pn_buf_free(&text);
}

static int read(const char *text, double *value) {
  return pn_metrics_read_sample(text, strlen(text), "pinion_slots", value);
}

static void a_sample_is_read_back_from_what_the_writer_wrote(void **state) {
  pn_metrics *set = NULL;
  pn_metric *slots = NULL, *in_use = NULL;
  assert_int_equal(pn_metrics_new(&set), 0);
  pn_metric_spec in_use_spec = {.name = "pinion_slots_in_use", .help = "in use", .type = PN_METRIC_GAUGE};
  pn_metric_spec slots_spec = {.name = "pinion_slots", .help = "slots", .type = PN_METRIC_GAUGE};
  assert_int_equal(pn_metrics_add(set, &in_use_spec, &in_use), 0);
  assert_int_equal(pn_metrics_add(set, &slots_spec, &slots), 0);
  pn_metric_set(in_use, 0, 3);
  pn_metric_set(slots, 0, 64);
  char *text = write_all(set);
  double value = 0;
  assert_int_equal(read(text, &value), 0); /* not pinion_slots_in_use, written first */
  assert_true(value == 64);
  pn_free(text);
  pn_metrics_free(set);
}

static void a_sample_is_found_only_on_its_own_unlabeled_line(void **state) {
  double value = -1;
  assert_int_equal(read("# HELP pinion_slots 9\npinion_slots{a=\"b\"} 7\npinion_slots\t5 1700000000\n", &value), 0);
  assert_true(value == 5);
  assert_int_equal(read("pinion_slots 2.5", &value), 0); /* no final newline */
  assert_true(value == 2.5);
  value = -1;
  assert_int_equal(read("", &value), PN_ENOENT);
  assert_int_equal(read("pinion_slotsx 3\n pinion_slots 3\npinion_slots\n", &value), PN_ENOENT);
  assert_int_equal(read("pinion_slots NaN\n", &value), PN_EINVAL);
  assert_int_equal(read("pinion_slots 3x\n", &value), PN_EINVAL);
  assert_int_equal(read("pinion_slots \npinion_slots 4\n", &value), PN_EINVAL); /* the first one counts */
  assert_int_equal(read("pinion_slots 1234567890123456789012345678901234567890123456789012345678901234\n",
                        &value), PN_EINVAL);
  assert_true(value == -1);
  /* The length bounds the read: "pinion_slots 12" cut after "1". */
  assert_int_equal(pn_metrics_read_sample("pinion_slots 12", 14, "pinion_slots", &value), 0);
  assert_true(value == 1);
}

/* What serve, the hub and the directors share: one definition, so a set with only the
 * counter (a director's) writes the very lines that a set with all three starts with. */
static void the_shared_prediction_metrics_have_one_definition(void **state) {
  pn_metrics *all = NULL, *status_only = NULL;
  pn_prediction_metrics full, counter;
  assert_int_equal(pn_metrics_new(&all), 0);
  assert_int_equal(pn_metrics_new(&status_only), 0);
  assert_int_equal(pn_prediction_metrics_add(all,
                                             PN_PREDICTION_METRICS_STATUS |
                                                 PN_PREDICTION_METRICS_DURATION |
                                                 PN_PREDICTION_METRICS_QUEUE_WAIT,
                                             &full),
                   0);
  assert_int_equal(pn_prediction_metrics_add(status_only, PN_PREDICTION_METRICS_STATUS, &counter),
                   0);
  assert_non_null(full.predictions);
  assert_non_null(full.duration);
  assert_non_null(full.queue_wait);
  assert_null(counter.duration);
  assert_null(counter.queue_wait);
  assert_int_equal(pn_prediction_metrics_series("succeeded"), PN_PREDICTION_METRICS_SUCCEEDED);
  assert_int_equal(pn_prediction_metrics_series("failed"), PN_PREDICTION_METRICS_FAILED);
  assert_int_equal(pn_prediction_metrics_series("canceled"), PN_PREDICTION_METRICS_CANCELED);
  assert_int_equal(pn_prediction_metrics_series("processing"), -1);
  assert_int_equal(pn_prediction_metrics_series(NULL), -1);

  pn_prediction_metrics_finished(&full, PN_PREDICTION_METRICS_FAILED, 0.3);
  pn_prediction_metrics_finished(&full, -1, 0.3);                              /* not terminal */
  pn_prediction_metrics_finished(&full, PN_PREDICTION_METRICS_CANCELED, -1); /* no duration */
  pn_prediction_metrics_started(&full, 0.002);
  pn_prediction_metrics_started(&full, -1);
  pn_prediction_metrics_finished(&counter, PN_PREDICTION_METRICS_FAILED, 0.3);
  pn_prediction_metrics_finished(&counter, PN_PREDICTION_METRICS_CANCELED, -1);
  pn_prediction_metrics_started(&counter, 0.002); /* no histogram: nothing */

  char *text = write_all(all), *counter_text = write_all(status_only);
  assert_true(strncmp(text, counter_text, strlen(counter_text)) == 0);
  assert_string_equal(counter_text,
                      "# HELP pinion_predictions_total Predictions (and trainings) that reached "
                      "a terminal status, by status.\n"
                      "# TYPE pinion_predictions_total counter\n"
                      "pinion_predictions_total{status=\"succeeded\"} 0\n"
                      "pinion_predictions_total{status=\"failed\"} 1\n"
                      "pinion_predictions_total{status=\"canceled\"} 1\n");
  assert_non_null(strstr(text, "# TYPE pinion_prediction_duration_seconds histogram\n"));
  assert_non_null(strstr(text, "pinion_prediction_duration_seconds_bucket{le=\"0.25\"} 0\n"
                               "pinion_prediction_duration_seconds_bucket{le=\"0.5\"} 1\n"));
  assert_non_null(strstr(text, "pinion_prediction_duration_seconds_bucket{le=\"600\"} 1\n"
                               "pinion_prediction_duration_seconds_bucket{le=\"+Inf\"} 1\n"
                               "pinion_prediction_duration_seconds_sum 0.3\n"
                               "pinion_prediction_duration_seconds_count 1\n"));
  assert_non_null(strstr(text, "pinion_prediction_queue_wait_seconds_bucket{le=\"0.001\"} 0\n"
                               "pinion_prediction_queue_wait_seconds_bucket{le=\"0.0025\"} 1\n"));
  assert_non_null(strstr(text, "pinion_prediction_queue_wait_seconds_count 1\n"));
  pn_free(text);
  pn_free(counter_text);
  pn_metrics_free(all);
  pn_metrics_free(status_only);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_labeled_counter_shows_every_series_from_zero),
      cmocka_unit_test(the_shared_prediction_metrics_have_one_definition),
      cmocka_unit_test(a_histogram_counts_each_bucket_cumulatively),
      cmocka_unit_test(a_labeled_histogram_puts_le_after_its_label),
      cmocka_unit_test(a_gauge_shows_only_the_series_that_were_set),
      cmocka_unit_test(numbers_are_written_in_their_shortest_exact_form),
      cmocka_unit_test(help_and_label_values_are_escaped),
      cmocka_unit_test(a_metric_that_breaks_the_rules_is_refused),
      cmocka_unit_test(a_set_refuses_a_second_metric_of_a_name_and_has_a_ceiling),
      cmocka_unit_test(writing_past_the_buffers_ceiling_fails),
      cmocka_unit_test(every_allocation_failure_is_reported),
      cmocka_unit_test(families_written_by_their_owner_take_several_labels),
      cmocka_unit_test(families_refuse_bad_names_and_append_nothing),
      cmocka_unit_test(groups_share_each_familys_header_and_carry_their_own_labels),
      cmocka_unit_test(groups_of_different_sets_or_clashing_labels_are_refused),
      cmocka_unit_test(a_sample_is_read_back_from_what_the_writer_wrote),
      cmocka_unit_test(a_sample_is_found_only_on_its_own_unlabeled_line),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
