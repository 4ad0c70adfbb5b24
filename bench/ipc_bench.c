/* The worker's per-prediction overhead over IPC: a runner on the trivial model,
 * predictions submitted back to back from the loop, the mean and median round trip
 * measured from submit to the DONE event. No HTTP, no validation: only the protocol,
 * the socketpair and the worker's Python loop. Both sides poll as `pinion serve` does
 * (PINION_POLL_US; 0 to measure them sleeping). */
#include "core/alloc.h"
#include "core/clock.h"
#include "core/loop.h"
#include "runtime/runner.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WARMUP 200

typedef struct bench {
  struct event_base *base;
  pn_runner *runner;
  int total, done;
  uint64_t started;
  double *samples;
  int failed;
} bench;

static void submit_next(bench *state);

static void on_event(pn_prediction *prediction, enum pn_prediction_event event,
                     const json_t *detail, void *arg) {
  bench *state = arg;
  if (event != PN_PREDICTION_EVENT_DONE)
    return;
  if (prediction->status != PN_PREDICTION_SUCCEEDED)
    state->failed = 1;
  uint64_t elapsed = pn_clock_monotonic_ns() - state->started;
  if (state->done >= WARMUP)
    state->samples[state->done - WARMUP] = (double)elapsed / 1000.0;
  state->done++;
  if (state->done == state->total + WARMUP || state->failed)
    event_base_loopexit(state->base, NULL);
  else
    submit_next(state);
}

static void submit_next(bench *state) {
  char id[32];
  snprintf(id, sizeof id, "b%d", state->done);
  json_t *input = json_pack("{s:s}", "text", "x");
  pn_prediction *prediction = pn_prediction_new(id, input, NULL);
  json_decref(input);
  state->started = pn_clock_monotonic_ns();
  if (pn_runner_submit(state->runner, prediction, on_event, state) < 0) {
    state->failed = 1;
    event_base_loopexit(state->base, NULL);
  }
  pn_prediction_unref(prediction);
}

static void on_state(pn_runner *runner, void *arg) {
  bench *state = arg;
  if (pn_runner_state(runner) == PN_RUNNER_READY && state->done == 0 && !state->started)
    submit_next(state);
  else if (pn_runner_state(runner) == PN_RUNNER_SETUP_FAILED) {
    fprintf(stderr, "setup failed: %s\n", pn_runner_setup_error(runner));
    state->failed = 1;
    event_base_loopexit(state->base, NULL);
  }
}

static int in_flight(void *arg) {
  bench *state = arg;
  return state->runner && pn_runner_in_flight(state->runner) > 0;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: ipc_bench PYTHON_DIR MODEL_DIR COUNT\n");
    return 2;
  }
  pn_alloc_install_json();
  bench state = {0};
  state.total = atoi(argv[3]);
  state.samples = calloc((size_t)state.total, sizeof *state.samples);
  state.base = pn_loop_new();
  const char *python = getenv("PINION_PYTHON") ? getenv("PINION_PYTHON") : "python3";
  long poll_us = pn_poll_budget_us();
  pn_runner_options options = {
      .worker = {.python = python, .python_dir = argv[1], .project_dir = argv[2],
                 .predictor = "predict.py:Predictor", .mode = "predict", .poll_us = poll_us},
  };
  pn_runner_callbacks callbacks = {.on_state = on_state};
  char *error = NULL;
  if (pn_runner_start(state.base, &options, &callbacks, &state, &state.runner, &error) < 0) {
    fprintf(stderr, "could not start: %s\n", error);
    return 1;
  }
  pn_loop_run(state.base, poll_us, in_flight, &state);
  if (state.failed) {
    fprintf(stderr, "a prediction failed\n");
    return 1;
  }
  qsort(state.samples, (size_t)state.total, sizeof *state.samples, compare);
  double sum = 0;
  for (int i = 0; i < state.total; i++)
    sum += state.samples[i];
  printf("%.1f %.1f %.1f\n", state.samples[state.total / 2], sum / state.total,
         state.samples[state.total * 99 / 100]);
  pn_runner_free(state.runner);
  event_base_free(state.base);
  free(state.samples);
  return 0;
}
