/* Unit tests for config/: every cog.yaml key, every message with its line and column,
 * several errors at once, finding cog.yaml in parent folders, and allocation failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int parse(const char *yaml, pn_config **config, pn_diag_list *diags) {
  pn_diag_list_init(diags);
  return pn_config_parse(yaml, strlen(yaml), "cog.yaml", config, diags);
}

/* Parses text that must fail with exactly one error, and checks where and what. */
static void expect_error(const char *yaml, int line, int column, const char *field,
                         const char *message) {
  pn_config *config = NULL;
  pn_diag_list diags;
  assert_int_equal(parse(yaml, &config, &diags), PN_EPARSE);
  assert_null(config);
  size_t errors = 0;
  for (size_t i = 0; i < diags.count; i++) {
    const pn_diag *diag = &diags.items[i];
    if (diag->severity != PN_DIAG_ERROR)
      continue;
    errors++;
    assert_string_equal(diag->message, message);
    assert_string_equal(diag->file, "cog.yaml");
    assert_int_equal(diag->line, line);
    assert_int_equal(diag->column, column);
    if (field)
      assert_string_equal(diag->field, field);
    else
      assert_null(diag->field);
  }
  assert_int_equal(errors, 1);
  pn_diag_list_free(&diags);
}

/* Parses text that must load; returns the config, which the caller frees. */
static pn_config *expect_ok(const char *yaml, size_t warnings) {
  pn_config *config = NULL;
  pn_diag_list diags;
  int rc = parse(yaml, &config, &diags);
  if (rc != 0)
    pn_diag_print(&diags, stderr);
  assert_int_equal(rc, 0);
  assert_non_null(config);
  assert_int_equal(pn_diag_count(&diags, PN_DIAG_ERROR), 0);
  assert_int_equal(pn_diag_count(&diags, PN_DIAG_WARNING), warnings);
  pn_diag_list_free(&diags);
  return config;
}

static void empty_file_is_an_empty_config(void **state) {
  pn_config *config = expect_ok("", 0);
  assert_null(config->run);
  assert_null(config->build.python_version);
  assert_int_equal(config->build.present, 0);
  assert_int_equal(config->environment_count, 0);
  assert_int_equal(json_object_size(config->json), 0);
  assert_true(config->path[0] == '/');
  assert_true(strlen(config->dir) < strlen(config->path));
  pn_config_free(config);
  config = expect_ok("# only a comment\n", 0);
  pn_config_free(config);
}

static void full_config_round_trip(void **state) {
  pn_config *config = expect_ok("build:\n"
                                "  python_version: \"3.11\"\n"
                                "  gpu: true\n"
                                "  cuda: \"12.1\"\n"
                                "  cudnn: \"8\"\n"
                                "  system_packages: [ffmpeg, libgl1]\n"
                                "  sdk_version: 0.16.3\n"
                                "  run:\n"
                                "    - echo hello\n"
                                "    - command: pip install private\n"
                                "      mounts:\n"
                                "        - type: secret\n"
                                "          id: token\n"
                                "          target: /run/secrets/token\n"
                                "run: predict.py:Predictor\n"
                                "train: train.py:train\n"
                                "image: r8.im/me/model\n"
                                "environment:\n"
                                "  - HELLO=world\n"
                                "  - EMPTY=\n",
                                0);
  assert_string_equal(config->build.python_version, "3.11");
  assert_int_equal(config->build.gpu, 1);
  assert_string_equal(config->build.cuda, "12.1");
  assert_string_equal(config->build.cudnn, "8");
  assert_int_equal(config->build.system_packages_count, 2);
  assert_string_equal(config->build.system_packages[1], "libgl1");
  assert_string_equal(config->build.sdk_version, "0.16.3");
  assert_int_equal(config->build.run_count, 2);
  assert_string_equal(config->build.run[0].command, "echo hello");
  assert_int_equal(config->build.run[0].mount_count, 0);
  assert_string_equal(config->build.run[1].command, "pip install private");
  assert_int_equal(config->build.run[1].mount_count, 1);
  assert_string_equal(config->build.run[1].mounts[0].type, "secret");
  assert_string_equal(config->build.run[1].mounts[0].id, "token");
  assert_string_equal(config->build.run[1].mounts[0].target, "/run/secrets/token");
  assert_string_equal(config->run, "predict.py:Predictor");
  assert_int_equal(config->run_from_predict, 0);
  assert_string_equal(config->train, "train.py:train");
  assert_string_equal(config->image, "r8.im/me/model");
  assert_int_equal(config->environment_count, 2);
  assert_string_equal(config->environment[0], "HELLO=world");
  assert_string_equal(config->environment[1], "EMPTY=");
  char *json = json_dumps(config->json, JSON_COMPACT | JSON_SORT_KEYS);
  assert_string_equal(
      json, "{\"build\":{\"cuda\":\"12.1\",\"cudnn\":\"8\",\"gpu\":true,\"python_version\":"
            "\"3.11\",\"run\":[\"echo hello\",{\"command\":\"pip install private\",\"mounts\":"
            "[{\"id\":\"token\",\"target\":\"/run/secrets/token\",\"type\":\"secret\"}]}],"
            "\"sdk_version\":\"0.16.3\",\"system_packages\":[\"ffmpeg\",\"libgl1\"]},"
            "\"environment\":[\"HELLO=world\",\"EMPTY=\"],\"image\":\"r8.im/me/model\","
            "\"run\":\"predict.py:Predictor\",\"train\":\"train.py:train\"}");
  free(json); /* jansson's own allocator: this test does not install pn_malloc */
  pn_config_free(config);
}

static void numeric_python_version_keeps_its_text(void **state) {
  pn_config *config = expect_ok("build:\n  python_version: 3.10\n", 0);
  assert_string_equal(config->build.python_version, "3.10");
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(config->json, "build"), "python_version")),
      "3.10");
  pn_config_free(config);
  config = expect_ok("build:\n  python_version: 3.8.18\n", 0);
  assert_string_equal(config->build.python_version, "3.8.18");
  pn_config_free(config);
}

static void python_version_is_required_with_build(void **state) {
  expect_error("build:\n  gpu: true\n", 1, 1, "build.python_version",
               "schema error in \"build\": python_version is required (e.g., python_version: "
               "\"3.11\")");
  pn_config *config = expect_ok("build:\n", 0); /* a null build is no build */
  pn_config_free(config);
}

static void python_version_minimum_is_3_8(void **state) {
  expect_error("build:\n  python_version: \"3.7\"\n", 2, 19, "build.python_version",
               "invalid build.python_version \"3.7\": minimum supported Python version is 3.8");
  expect_error("build:\n  python_version: 2.7.18\n", 2, 19, "build.python_version",
               "invalid build.python_version \"2.7.18\": minimum supported Python version is "
               "3.8");
  pn_config *config = expect_ok("build:\n  python_version: '3.8'\n", 0);
  pn_config_free(config);
}

static void python_version_form(void **state) {
  expect_error("build:\n  python_version: \"3\"\n", 2, 19, "build.python_version",
               "invalid build.python_version \"3\": must be major.minor or major.minor.patch "
               "(e.g., '3.11')");
  expect_error("build:\n  python_version: 3.11.x\n", 2, 19, "build.python_version",
               "invalid build.python_version \"3.11.x\": must be major.minor or "
               "major.minor.patch (e.g., '3.11')");
  expect_error("build:\n  python_version: [3]\n", 2, 19, "build.python_version",
               "schema error in \"build.python_version\": must be a string or number");
}

static void unknown_top_level_key(void **state) {
  expect_error("run: predict.py:P\nbuidl:\n  gpu: true\n", 2, 1, "buidl",
               "schema error in \"cog.yaml\": Additional property buidl is not allowed; "
               "allowed: build, run, predict, train, image, model, concurrency, environment, "
               "weights");
}

static void unknown_build_key(void **state) {
  expect_error("build:\n  python_version: '3.11'\n  python_packges: [torch]\n", 3, 3,
               "build.python_packges",
               "schema error in \"build\": Additional property python_packges is not allowed; "
               "allowed: python_version, python_requirements, python_packages, "
               "system_packages, gpu, cuda, cudnn, run, sdk_version, pre_install");
}

static void ignored_cog_keys_warn(void **state) {
  pn_config *config = NULL;
  pn_diag_list diags;
  assert_int_equal(
      parse("build:\n  python_version: '3.11'\n  fast: true\ntests: []\n", &config, &diags), 0);
  assert_int_equal(diags.count, 2);
  assert_int_equal(diags.items[0].severity, PN_DIAG_WARNING);
  assert_string_equal(diags.items[0].message,
                      "field \"tests\" is accepted for compatibility with Cog and ignored");
  assert_string_equal(diags.items[1].field, "build.fast");
  pn_diag_list_free(&diags);
  pn_config_free(config);
}

static void root_must_be_a_mapping(void **state) {
  expect_error("- a\n- b\n", 1, 1, NULL, "schema error in \"cog.yaml\": must be a mapping");
}

static void type_errors(void **state) {
  expect_error("build: [1]\n", 1, 8, "build", "schema error in \"build\": must be a mapping");
  expect_error("environment: A=1\n", 1, 14, "environment",
               "schema error in \"environment\": must be a list");
  expect_error("run: {a: b}\n", 1, 6, "run", "schema error in \"run\": must be a string");
  expect_error("build:\n  python_version: '3.11'\n  gpu: yes please\n", 3, 8, "build.gpu",
               "schema error in \"build.gpu\": must be a boolean (true or false)");
  expect_error("build:\n  python_version: '3.11'\n  system_packages:\n    - [x]\n", 4, 7,
               "build.system_packages.0",
               "schema error in \"build.system_packages.0\": must be a string");
  expect_error("concurrency:\n  max: two\n", 2, 8, "concurrency.max",
               "schema error in \"concurrency.max\": must be an integer");
}

static void yaml_syntax_error(void **state) {
  expect_error("build:\n  python_version: \"3.11\n", 3, 1, NULL,
               "failed to parse cog.yaml: invalid YAML: found unexpected end of stream while "
               "scanning a quoted scalar");
  expect_error("build:\n  a: b\n c: d\n", 3, 2, NULL,
               "failed to parse cog.yaml: invalid YAML: did not find expected key while "
               "parsing a block mapping");
}

static void deep_nesting_is_refused(void **state) {
  char yaml[200] = "run: ";
  memset(yaml + 5, '[', 100);
  expect_error(yaml, 1, 69, NULL,
               "failed to parse cog.yaml: invalid YAML: nested deeper than 64 levels");
}

static void duplicate_keys(void **state) {
  expect_error("run: a.py:A\nrun: b.py:B\n", 2, 1, "run",
               "failed to parse cog.yaml: invalid YAML: mapping key \"run\" already defined at "
               "line 1");
}

static void legacy_predict_warns(void **state) {
  pn_config *config = NULL;
  pn_diag_list diags;
  assert_int_equal(parse("predict: predict.py:Predictor\n", &config, &diags), 0);
  assert_string_equal(config->run, "predict.py:Predictor");
  assert_int_equal(config->run_from_predict, 1);
  assert_int_equal(diags.count, 1);
  assert_int_equal(diags.items[0].severity, PN_DIAG_WARNING);
  assert_int_equal(diags.items[0].line, 1);
  assert_int_equal(diags.items[0].column, 1);
  assert_string_equal(diags.items[0].field, "predict");
  assert_string_equal(diags.items[0].message, "deprecated field \"predict\": use \"run\" instead");
  assert_non_null(json_object_get(config->json, "predict"));
  pn_diag_list_free(&diags);
  pn_config_free(config);
}

static void run_and_predict_together(void **state) {
  expect_error("run: run.py:Runner\npredict: predict.py:Predictor\n", 2, 1, "predict",
               "only one of run or predict can be set");
}

static void reference_forms(void **state) {
  pn_config *config = expect_ok("run: src/predict.py\ntrain: train.py:train\n", 0);
  pn_config_free(config);
  expect_error("run: predict:Predictor\n", 1, 6, "run",
               "invalid run \"predict:Predictor\": must be in the form 'predict.py:Predictor' "
               "or 'predict.py'");
  expect_error("train: 'train.py:'\n", 1, 8, "train",
               "invalid train \"train.py:\": must be in the form 'train.py:Trainer' or "
               "'train.py'");
  expect_error("run: /abs/predict.py:P\n", 1, 6, "run",
               "invalid run \"/abs/predict.py:P\": must be a path relative to the project "
               "folder");
  expect_error("run: a/../../predict.py:P\n", 1, 6, "run",
               "invalid run \"a/../../predict.py:P\": must not point outside the project "
               "folder");
}

static void split_ref(void **state) {
  char *file = NULL, *attr = NULL;
  assert_int_equal(pn_config_split_ref("predict.py:Predictor", &file, &attr), 0);
  assert_string_equal(file, "predict.py");
  assert_string_equal(attr, "Predictor");
  pn_free(file);
  pn_free(attr);
  assert_int_equal(pn_config_split_ref("src/predict.py", &file, &attr), 0);
  assert_string_equal(file, "src/predict.py");
  assert_null(attr);
  pn_free(file);
  assert_int_equal(pn_config_split_ref("", &file, &attr), PN_EINVAL);
  assert_int_equal(pn_config_split_ref(NULL, &file, &attr), PN_EINVAL);
}

static void image_and_model(void **state) {
  expect_error("image: a\nmodel: r8.im/u/m\n", 2, 1, "model",
               "only one of image or model can be set");
  expect_error("model: r8.im/u/m:latest\n", 1, 8, "model",
               "invalid model \"r8.im/u/m:latest\": must be a repository without a tag or "
               "digest (e.g., 'r8.im/user/name')");
  pn_config *config = expect_ok("model: localhost:5000/u/m\n", 0);
  assert_string_equal(config->model, "localhost:5000/u/m");
  pn_config_free(config);
}

static void booleans(void **state) {
  pn_config *config = expect_ok("build:\n  python_version: '3.11'\n  gpu: yes\n", 0);
  assert_int_equal(config->build.gpu, 1);
  pn_config_free(config);
  config = expect_ok("build:\n  python_version: '3.11'\n  gpu: False\n", 0);
  assert_int_equal(config->build.gpu, 0);
  pn_config_free(config);
  expect_error("build:\n  python_version: '3.11'\n  gpu: 'true'\n", 3, 8, "build.gpu",
               "schema error in \"build.gpu\": must be a boolean (true or false)");
}

static void concurrency(void **state) {
  pn_config *config = expect_ok("concurrency:\n  max: 4\n  default_target: 2\n", 1);
  assert_int_equal(config->concurrency_max, 4);
  assert_int_equal(config->concurrency_default_target, 2);
  pn_config_free(config);
  expect_error("concurrency:\n  max: 0\n", 2, 8, "concurrency.max",
               "invalid concurrency.max \"0\": must be at least 1");
  expect_error("concurrency:\n  default_target: 1\n", 1, 1, "concurrency.max",
               "schema error in \"concurrency\": max is required (an integer of at least 1)");
  expect_error("concurrency:\n  max: 2\n  min: 1\n", 3, 3, "concurrency.min",
               "schema error in \"concurrency\": Additional property min is not allowed; "
               "allowed: max, default_target");
  expect_error("build:\n  python_version: '3.10'\nconcurrency:\n  max: 2\n", 4, 8,
               "concurrency.max",
               "invalid concurrency.max \"2\": concurrency requires Python 3.11 or higher");
}

static void environment_rules(void **state) {
  expect_error("environment:\n  - PATH=/x\n", 2, 5, "environment.0",
               "invalid environment: environment variable \"PATH\" is not allowed: reserved "
               "for internal use");
  expect_error("environment:\n  - CUDA_HOME=/x\n", 2, 5, "environment.0",
               "invalid environment: environment variable \"CUDA_HOME\" is not allowed: "
               "reserved for internal use");
  expect_error("environment:\n  - 1A=x\n", 2, 5, "environment.0",
               "invalid environment: environment variable \"1A=x\" is not in the KEY=VALUE "
               "format (KEY is letters, digits and underscores, not starting with a digit)");
  expect_error("environment:\n  - A=1\n  - B=2\n  - A=3\n", 4, 5, "environment.2",
               "invalid environment: environment variable \"A\" is already defined (at line "
               "2)");
  pn_config *config = expect_ok("environment: [COG_SETUP_TIMEOUT=30, PATHS=x, A=b=c]\n", 0);
  assert_string_equal(config->environment[2], "A=b=c");
  pn_config_free(config);
}

static void run_step_forms(void **state) {
  expect_error("build:\n  python_version: '3.11'\n  run:\n    - mounts: []\n", 4, 7, "build.run.0",
               "schema error in \"build.run.0\": command is required");
  expect_error("build:\n  python_version: '3.11'\n  run:\n    - command: x\n      mounts:\n"
               "        - {type: cache, id: a, target: /b}\n",
               6, 18, "build.run.0.mounts.0.type",
               "schema error in \"build.run.0.mounts.0.type\": must be one of the following: "
               "\"secret\"");
  expect_error("build:\n  python_version: '3.11'\n  run:\n    - command: x\n      mounts:\n"
               "        - {type: secret, id: a}\n",
               6, 11, "build.run.0.mounts.0",
               "schema error in \"build.run.0.mounts.0\": target is required");
  expect_error("build:\n  python_version: '3.11'\n  run:\n    - [x]\n", 4, 7, "build.run.0",
               "schema error in \"build.run.0\": must be a string or mapping");
}

static void cuda_and_sdk_versions(void **state) {
  expect_error("build:\n  python_version: '3.11'\n  cuda: '10.2'\n", 3, 9, "build.cuda",
               "invalid build.cuda \"10.2\": minimum supported CUDA version is 11");
  expect_error("build:\n  python_version: '3.11'\n  cuda: '12'\n", 3, 9, "build.cuda",
               "invalid build.cuda \"12\": must be major.minor or major.minor.patch (e.g., "
               "'11.8')");
  expect_error("build:\n  python_version: '3.11'\n  sdk_version: 0.9.26\n", 3, 16,
               "build.sdk_version",
               "invalid build.sdk_version \"0.9.26\": minimum supported version is 0.16.0");
  expect_error("build:\n  python_version: '3.11'\n  sdk_version: latest\n", 3, 16,
               "build.sdk_version",
               "invalid build.sdk_version \"latest\": must be a PEP 440 version (e.g., "
               "'0.16.0')");
  pn_config *config =
      expect_ok("build:\n  python_version: '3.11'\n  cuda: 11.8\n  sdk_version: 0.17.0rc1\n", 0);
  assert_string_equal(config->build.cuda, "11.8");
  pn_config_free(config);
}

static void deprecated_build_fields(void **state) {
  pn_config *config = NULL;
  pn_diag_list diags;
  assert_int_equal(parse("build:\n  python_version: '3.11'\n  python_packages: [torch==2.1]\n"
                         "  pre_install: [echo hi]\n",
                         &config, &diags),
                   0);
  assert_int_equal(diags.count, 2);
  assert_string_equal(diags.items[0].message, "deprecated field \"build.python_packages\": use "
                                              "\"build.python_requirements\" instead");
  assert_int_equal(diags.items[0].line, 3);
  assert_int_equal(diags.items[0].column, 3);
  assert_string_equal(diags.items[1].message,
                      "deprecated field \"build.pre_install\": use \"build.run\" instead");
  assert_string_equal(config->build.python_packages[0], "torch==2.1");
  assert_string_equal(config->build.pre_install[0], "echo hi");
  pn_diag_list_free(&diags);
  pn_config_free(config);
}

/* A project folder with cog.yaml (and optionally requirements.txt); the caller frees
 * *dir and removes the folder; returns the cog.yaml path, which the caller frees. */
static char *make_project(const char *yaml, int with_requirements, char **dir) {
  assert_int_equal(pn_fs_mkdtemp("pinion-config-test", dir), 0);
  char *path = pn_fs_join(*dir, "cog.yaml");
  assert_int_equal(pn_fs_write(path, yaml, strlen(yaml)), 0);
  if (with_requirements) {
    char *requirements = pn_fs_join(*dir, "requirements.txt");
    assert_int_equal(pn_fs_write(requirements, "torch\n", 6), 0);
    pn_free(requirements);
  }
  return path;
}

static void requirements_file(void **state) {
  char *dir = NULL;
  char *path = make_project("build:\n  python_version: '3.11'\n  python_requirements: "
                            "requirements.txt\n",
                            1, &dir);
  pn_config *config = NULL;
  pn_diag_list diags;
  pn_diag_list_init(&diags);
  assert_int_equal(pn_config_load(path, &config, &diags), 0);
  assert_string_equal(config->build.python_requirements, "requirements.txt");
  assert_string_equal(config->dir, dir);
  assert_string_equal(config->path, path);
  pn_config_free(config);
  pn_free(path);
  pn_fs_remove_tree(dir);
  pn_free(dir);

  path = make_project("build:\n  python_version: '3.11'\n  python_requirements: missing.txt\n"
                      "  python_packages: [torch]\n",
                      0, &dir);
  assert_int_equal(pn_config_load(path, &config, &diags), PN_EPARSE);
  assert_null(config);
  assert_int_equal(pn_diag_count(&diags, PN_DIAG_ERROR), 2);
  assert_int_equal(diags.count, 3); /* and the python_packages deprecation first */
  char *expected = pn_strfmt("invalid build.python_requirements \"missing.txt\": file does "
                             "not exist (paths are relative to the folder of %s)",
                             path);
  assert_string_equal(diags.items[1].message, expected);
  assert_int_equal(diags.items[1].line, 3);
  assert_int_equal(diags.items[1].column, 24);
  assert_string_equal(diags.items[1].file, path);
  assert_string_equal(diags.items[2].message, "invalid build: only one of python_packages or "
                                              "python_requirements can be set, not both");
  pn_free(expected);
  pn_diag_list_free(&diags);
  pn_free(path);
  pn_fs_remove_tree(dir);
  pn_free(dir);
}

static void load_missing_file(void **state) {
  pn_config *config = NULL;
  pn_diag_list diags;
  pn_diag_list_init(&diags);
  assert_int_equal(pn_config_load("/nonexistent/cog.yaml", &config, &diags), PN_ENOENT);
  assert_null(config);
  assert_int_equal(diags.count, 0);
}

static void load_refuses_huge_files(void **state) {
  char *dir = NULL;
  char *path = make_project("", 0, &dir);
  size_t size = PN_CONFIG_MAX_BYTES + 1;
  char *text = pn_malloc(size);
  memset(text, '#', size);
  assert_int_equal(pn_fs_write(path, text, size), 0);
  pn_config *config = NULL;
  pn_diag_list diags;
  pn_diag_list_init(&diags);
  assert_int_equal(pn_config_load(path, &config, &diags), PN_EPARSE);
  assert_null(config);
  assert_int_equal(diags.count, 1);
  char *expected = pn_strfmt("failed to parse %s: the file is larger than 1048576 bytes", path);
  assert_string_equal(diags.items[0].message, expected);
  pn_free(expected);
  pn_diag_list_free(&diags);
  pn_free(text);
  pn_free(path);
  pn_fs_remove_tree(dir);
  pn_free(dir);
}

static void find_in_parent_folders(void **state) {
  char *dir = NULL;
  char *path = make_project("run: predict.py:P\n", 0, &dir);
  char *deep = pn_strfmt("%s/a/b/c", dir);
  char *a = pn_strfmt("%s/a", dir), *b = pn_strfmt("%s/a/b", dir);
  assert_int_equal(mkdir(a, 0700), 0);
  assert_int_equal(mkdir(b, 0700), 0);
  assert_int_equal(mkdir(deep, 0700), 0);
  char *found = NULL;
  assert_int_equal(pn_config_find(deep, "cog.yaml", &found), 0);
  assert_string_equal(found, path);
  pn_free(found);
  assert_int_equal(pn_config_find(dir, "cog.yaml", &found), 0);
  assert_string_equal(found, path);
  pn_free(found);
  assert_int_equal(pn_config_find(deep, "other.yaml", &found), PN_ENOENT);
  assert_null(found);
  pn_free(a);
  pn_free(b);
  pn_free(deep);
  pn_free(path);
  pn_fs_remove_tree(dir);
  pn_free(dir);
}

static void weights_valid(void **state) {
  pn_config *config = expect_ok("model: r8.im/u/m\n"
                                "weights:\n"
                                "  - name: base\n"
                                "    target: /src/weights/base\n"
                                "    source:\n"
                                "      uri: hf://org/repo\n"
                                "      include: ['*.safetensors']\n"
                                "      exclude: [docs/*]\n"
                                "  - name: lora.v2\n"
                                "    target: /src/lora\n"
                                "    source:\n"
                                "      - uri: https://example.com/a.bin\n"
                                "      - uri: ./local/b.bin\n",
                                0);
  assert_int_equal(config->weights_count, 2);
  assert_string_equal(config->weights[0].name, "base");
  assert_int_equal(config->weights[0].source_count, 1);
  assert_string_equal(config->weights[0].sources[0].include[0], "*.safetensors");
  assert_string_equal(config->weights[0].sources[0].exclude[0], "docs/*");
  assert_int_equal(config->weights[1].source_count, 2);
  assert_string_equal(config->weights[1].sources[1].uri, "./local/b.bin");
  assert_int_equal(json_array_size(json_object_get(config->json, "weights")), 2);
  pn_config_free(config);
}

static void weights_errors(void **state) {
  expect_error("image: x\nweights:\n  - {name: a, target: /a, source: {uri: hf://r}}\n", 2, 1,
               "weights",
               "invalid weights: weights require the \"model\" field; rename \"image\" to "
               "\"model\"");
  expect_error("model: m\nweights:\n  - {name: A_, target: /a, source: {uri: hf://r}}\n", 3, 12,
               "weights.0.name",
               "invalid weights.0.name \"A_\": must match ^[a-z0-9]+([._-][a-z0-9]+)*$ "
               "(lowercase letters and digits, joined by single '.', '_' or '-')");
  expect_error("model: m\nweights:\n  - {name: a, target: /, source: {uri: hf://r}}\n", 3, 23,
               "weights.0.target",
               "invalid weights.0.target \"/\": must not be the root folder '/'");
  expect_error("model: m\nweights:\n  - {name: a, target: rel, source: {uri: hf://r}}\n", 3, 23,
               "weights.0.target",
               "invalid weights.0.target \"rel\": must be an absolute path in the container, "
               "such as '/src/weights'");
  expect_error("model: m\nweights:\n  - {name: a, target: /a, source: {uri: s3://r}}\n", 3, 41,
               "weights.0.source.uri",
               "invalid weights.0.source.uri \"s3://r\": must be an hf://, file:// or https:// "
               "URI, or a local path");
  expect_error("model: m\nweights:\n  - {name: a, target: /a, source: []}\n", 3, 35,
               "weights.0.source",
               "schema error in \"weights.0.source\": must be a mapping or a non-empty list of "
               "mappings");
  expect_error("model: m\nweights:\n  - {name: a, target: /a, source: {uri: x, include: "
               "['!x']}}\n",
               3, 54, "weights.0.source.include.0",
               "invalid weights.0.source.include.0 \"!x\": must not start with '!' (list it "
               "under exclude instead)");
  expect_error("model: m\nweights:\n  - {name: a, target: /a}\n", 3, 5, "weights.0.source",
               "schema error in \"weights.0\": source is required");
}

static void weights_uniqueness(void **state) {
  expect_error("model: m\nweights:\n"
               "  - {name: a, target: /w, source: {uri: x}}\n"
               "  - {name: a, target: /v, source: {uri: x}}\n",
               4, 12, "weights.1.name",
               "invalid weights.1.name \"a\": names must be unique; weights.0 has it too");
  expect_error("model: m\nweights:\n"
               "  - {name: a, target: /w/, source: {uri: x}}\n"
               "  - {name: b, target: /w, source: {uri: x}}\n",
               4, 23, "weights.1.target",
               "invalid weights.1.target \"/w\": targets must be unique; weights.0 has it too");
  expect_error("model: m\nweights:\n"
               "  - {name: a, target: /w/x/y, source: {uri: x}}\n"
               "  - {name: b, target: /w-x, source: {uri: x}}\n"
               "  - {name: c, target: /w, source: {uri: x}}\n",
               3, 23, "weights.0.target",
               "invalid weights.0.target \"/w/x/y\": is inside weights.2.target \"/w\"; targets "
               "must not contain one another");
}

static void many_errors_at_once(void **state) {
  pn_config *config = NULL;
  pn_diag_list diags;
  assert_int_equal(parse("build:\n"
                         "  python_version: '3.6'\n"
                         "  gpu: maybe\n"
                         "  colour: blue\n"
                         "run: predict:P\n"
                         "environment: [PATH=/x, A=1, A=2]\n"
                         "concurrency: {max: 0}\n",
                         &config, &diags),
                   PN_EPARSE);
  assert_null(config);
  assert_int_equal(pn_diag_count(&diags, PN_DIAG_ERROR), 7);
  const char *fields[] = {"run",          "build.colour",    "build.python_version",
                          "build.gpu",    "concurrency.max", "environment.0",
                          "environment.2"};
  int lines[] = {5, 4, 2, 3, 7, 6, 6};
  size_t errors = 0;
  for (size_t i = 0; i < diags.count; i++) {
    if (diags.items[i].severity != PN_DIAG_ERROR)
      continue;
    assert_string_equal(diags.items[i].field, fields[errors]);
    assert_int_equal(diags.items[i].line, lines[errors]);
    errors++;
  }
  pn_diag_list_free(&diags);
}

static void allocation_failures(void **state) {
  const char *yaml = "build:\n"
                     "  python_version: 3.11\n"
                     "  python_packages: [torch]\n"
                     "  run: [echo, {command: x, mounts: [{type: secret, id: a, target: /b}]}]\n"
                     "run: predict.py:P\n"
                     "model: r8.im/u/m\n"
                     "concurrency: {max: 2, default_target: 1}\n"
                     "environment: [A=1, B=2]\n"
                     "weights:\n"
                     "  - {name: a, target: /a, source: [{uri: x, include: [y], exclude: [z]}]}\n"
                     "  - {name: b, target: /b, source: {uri: x}}\n";
  pn_alloc_install_json();
  int rc = PN_ENOMEM;
  long count;
  for (count = 0; rc == PN_ENOMEM && count < 100000; count++) {
    pn_config *config = NULL;
    pn_diag_list diags;
    pn_diag_list_init(&diags);
    pn_alloc_fail_after(count);
    rc = pn_config_parse(yaml, strlen(yaml), "cog.yaml", &config, &diags);
    pn_alloc_fail_after(-1);
    if (rc == 0)
      assert_non_null(config->json);
    else
      assert_null(config);
    pn_config_free(config);
    pn_diag_list_free(&diags);
  }
  assert_int_equal(rc, 0);
  assert_true(count > 20);
  /* The same for a file with errors: it must end in PN_EPARSE, never crash or leak. */
  rc = PN_ENOMEM;
  for (count = 0; rc == PN_ENOMEM && count < 100000; count++) {
    pn_config *config = NULL;
    pn_diag_list diags;
    pn_diag_list_init(&diags);
    pn_alloc_fail_after(count);
    rc = pn_config_parse("environment: [PATH=1, A=1, A=2]\nfoo: 1\n", 40, "cog.yaml", &config,
                         &diags);
    pn_alloc_fail_after(-1);
    pn_diag_list_free(&diags);
  }
  assert_int_equal(rc, PN_EPARSE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(empty_file_is_an_empty_config),
      cmocka_unit_test(full_config_round_trip),
      cmocka_unit_test(numeric_python_version_keeps_its_text),
      cmocka_unit_test(python_version_is_required_with_build),
      cmocka_unit_test(python_version_minimum_is_3_8),
      cmocka_unit_test(python_version_form),
      cmocka_unit_test(unknown_top_level_key),
      cmocka_unit_test(unknown_build_key),
      cmocka_unit_test(ignored_cog_keys_warn),
      cmocka_unit_test(root_must_be_a_mapping),
      cmocka_unit_test(type_errors),
      cmocka_unit_test(yaml_syntax_error),
      cmocka_unit_test(deep_nesting_is_refused),
      cmocka_unit_test(duplicate_keys),
      cmocka_unit_test(legacy_predict_warns),
      cmocka_unit_test(run_and_predict_together),
      cmocka_unit_test(reference_forms),
      cmocka_unit_test(split_ref),
      cmocka_unit_test(image_and_model),
      cmocka_unit_test(booleans),
      cmocka_unit_test(concurrency),
      cmocka_unit_test(environment_rules),
      cmocka_unit_test(run_step_forms),
      cmocka_unit_test(cuda_and_sdk_versions),
      cmocka_unit_test(deprecated_build_fields),
      cmocka_unit_test(requirements_file),
      cmocka_unit_test(load_missing_file),
      cmocka_unit_test(load_refuses_huge_files),
      cmocka_unit_test(find_in_parent_folders),
      cmocka_unit_test(weights_valid),
      cmocka_unit_test(weights_errors),
      cmocka_unit_test(weights_uniqueness),
      cmocka_unit_test(many_errors_at_once),
      cmocka_unit_test(allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
