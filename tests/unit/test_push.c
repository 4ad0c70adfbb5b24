/* Unit tests for what `pinion push` reads back from the hub (cli/push.c
 * pn_cli_push_reply): the answer of whatever listens at --hub. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli/push.h"
#include "core/alloc.h"
#include "core/error.h"

#include <string.h>

#define HUB "http://127.0.0.1:8080"

static void reply(long status, const char *body, size_t length, int rc, const char *id,
                  const char *problem) {
  char *got_id = NULL, *got_problem = NULL;
  assert_int_equal(pn_cli_push_reply(HUB, status, body, length, &got_id, &got_problem), rc);
  if (id)
    assert_string_equal(got_id, id);
  else
    assert_null(got_id);
  if (problem)
    assert_string_equal(got_problem, problem);
  else
    assert_null(got_problem);
  pn_free(got_id);
  pn_free(got_problem);
}

static void the_new_version_id_is_read(void **state) {
  const char body[] = "{\"id\":\"0f3a9c\",\"model\":\"alice/hello\"}";
  reply(201, body, sizeof body - 1, 0, "0f3a9c", NULL);
}

static void an_answer_that_is_not_a_version_is_named(void **state) {
  reply(200, "{}", 2, PN_EINVAL, NULL,
        "the server at " HUB " answered HTTP 200 without the new version's \"id\" (a string of "
        "printable characters); is " HUB " a pinion hub? Check --hub or PINION_HUB");
  reply(200, "{\"id\":\"a\\nb\"}", 13, PN_EINVAL, NULL,
        "the server at " HUB " answered HTTP 200 without the new version's \"id\" (a string of "
        "printable characters); is " HUB " a pinion hub? Check --hub or PINION_HUB");
  reply(200, NULL, 0, PN_EINVAL, NULL,
        "the server at " HUB " answered HTTP 200 but not with JSON (an empty body); is " HUB
        " a pinion hub? Check --hub or PINION_HUB");
}

/* Found by tests/fuzz/fuzz_push_reply: jansson's message quotes the byte where parsing
 * stopped, and that byte went to the terminal as it came (here \x01; an ESC would
 * start an escape sequence). */
static void control_bytes_of_the_answer_never_reach_the_terminal(void **state) {
  const char body[] = "{\"id\":42\x01\x00{";
  char *id = NULL, *problem = NULL;
  assert_int_equal(pn_cli_push_reply(HUB, 200, body, sizeof body - 1, &id, &problem), PN_EINVAL);
  assert_null(id);
  assert_non_null(strstr(problem, "but not with JSON ('}' expected near '?')"));
  pn_free(problem);
  const char refusal[] = "{\"detail\":\"bad \\u001b[31mred\"}";
  reply(400, refusal, sizeof refusal - 1, PN_EINVAL, NULL,
        "the hub at " HUB " refused the push (HTTP 400): bad ?[31mred");
  reply(502, "\x00\x01 proxy", 8, PN_EINVAL, NULL,
        "the hub at " HUB " refused the push (HTTP 502): ?? proxy");
}

int main(void) {
  pn_alloc_install_json();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(the_new_version_id_is_read),
      cmocka_unit_test(an_answer_that_is_not_a_version_is_named),
      cmocka_unit_test(control_bytes_of_the_answer_never_reach_the_terminal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
