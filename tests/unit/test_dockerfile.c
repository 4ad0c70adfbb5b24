/* Unit tests for image/: the Dockerfile generator against expected Dockerfiles for the
 * cog.yaml variants under tests/unit/data/dockerfile/ (one folder each: cog.yaml, maybe
 * requirements.txt and base-image, and the expected Dockerfile), the CUDA table's
 * choices and errors, requirement pins, weight files in their own layers, and the
 * default tag. PINION_UPDATE_EXPECTED=1 rewrites the expected files (review the diff). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"
#include "image/cuda.h"
#include "image/dockerfile.h"
#include "image/engine.h"
#include "image/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DATA "tests/unit/data/dockerfile/"

static pn_config *load(const char *dir) {
  char *path = pn_fs_join(dir, "cog.yaml");
  pn_diag_list diags;
  pn_diag_list_init(&diags);
  pn_config *config = NULL;
  int rc = pn_config_load(path, &config, &diags);
  if (rc != 0)
    pn_diag_print(&diags, stderr);
  assert_int_equal(rc, 0);
  pn_diag_list_free(&diags);
  pn_free(path);
  return config;
}

static char *read_text(const char *dir, const char *name) {
  char *path = pn_fs_join(dir, name);
  char *text = NULL;
  pn_fs_read(path, 1 << 20, &text, NULL);
  pn_free(path);
  return text;
}

static void check_variant(const char *name) {
  char *dir = pn_strfmt(DATA "%s", name);
  pn_config *config = load(dir);
  char *base_image = read_text(dir, "base-image");
  if (base_image)
    base_image[strcspn(base_image, "\n")] = '\0';
  char *builder_image = read_text(dir, "builder-image");
  if (builder_image)
    builder_image[strcspn(builder_image, "\n")] = '\0';
  char *dockerfile = NULL, *error = NULL;
  int rc = pn_image_project_dockerfile(config, base_image, builder_image, &dockerfile, &error);
  if (rc != 0)
    fprintf(stderr, "%s: %s\n", name, error);
  assert_int_equal(rc, 0);
  char *expected_path = pn_fs_join(dir, "Dockerfile");
  if (getenv("PINION_UPDATE_EXPECTED"))
    pn_fs_write(expected_path, dockerfile, strlen(dockerfile));
  char *expected = read_text(dir, "Dockerfile");
  assert_non_null(expected);
  assert_string_equal(dockerfile, expected);
  pn_free(expected);
  pn_free(expected_path);
  pn_free(dockerfile);
  pn_free(base_image);
  pn_free(builder_image);
  pn_config_free(config);
  pn_free(dir);
}

#define VARIANT(name)                                                                          \
  static void test_variant_##name(void **state) { check_variant(#name); }
VARIANT(cpu_minimal)
VARIANT(base_builder)
VARIANT(cpu_python38)
VARIANT(cpu_requirements)
VARIANT(cpu_python_packages)
VARIANT(cpu_system_packages)
VARIANT(run_steps)
VARIANT(run_secrets)
VARIANT(environment)
VARIANT(gpu_default)
VARIANT(gpu_torch)
VARIANT(gpu_torch_cuda_pinned)
VARIANT(gpu_tensorflow)
VARIANT(gpu_torch_27)
VARIANT(train_concurrency)
VARIANT(pre_install)
VARIANT(base_image)
VARIANT(weights)

/* The code comes last and alone: editing predict.py touches only the last layer. */
static void test_code_is_last_layer(void **state) {
  pn_config *config = load(DATA "cpu_requirements");
  char *dockerfile = NULL, *error = NULL;
  assert_int_equal(pn_image_project_dockerfile(config, NULL, NULL, &dockerfile, &error), 0);
  const char *last = strrchr(dockerfile, '\n');
  while (last > dockerfile && last[-1] != '\n')
    last--;
  assert_string_equal(last, "COPY . /src\n");
  assert_non_null(strstr(dockerfile, "COPY --from=pinion-source . /pinion-source"));
  assert_true(strstr(dockerfile, "pip install") < strstr(dockerfile, "COPY --from=pinion /"));
  pn_free(dockerfile);
  pn_config_free(config);
}

static void expect_cuda(const char *cuda, const char *cudnn, const char *requirements,
                        const char *want_cuda, const char *want_cudnn) {
  pn_image_cuda result;
  char *error = NULL;
  int rc = pn_image_cuda_resolve(cuda, cudnn, requirements, &result, &error);
  if (rc != 0)
    fprintf(stderr, "unexpected: %s\n", error);
  assert_int_equal(rc, 0);
  assert_string_equal(result.cuda, want_cuda);
  assert_string_equal(result.cudnn, want_cudnn);
  assert_non_null(strstr(result.base_image, want_cuda));
}

static void expect_cuda_error(const char *cuda, const char *cudnn, const char *requirements,
                              const char *message) {
  pn_image_cuda result;
  char *error = NULL;
  assert_int_equal(pn_image_cuda_resolve(cuda, cudnn, requirements, &result, &error), PN_EINVAL);
  assert_non_null(error);
  assert_string_equal(error, message);
  pn_free(error);
}

static void test_cuda_choices(void **state) {
  expect_cuda(NULL, NULL, NULL, "11.8", "8");
  expect_cuda(NULL, NULL, "numpy\n", "11.8", "8");
  expect_cuda(NULL, NULL, "torch==2.1.0\n", "12.1", "8");
  expect_cuda(NULL, NULL, "torch==2.1.2+cu118\n", "12.1", "8");
  expect_cuda(NULL, NULL, "torch==2.5.1\n", "12.4", "9");
  expect_cuda(NULL, NULL, "torch==2.7.1\n", "12.8", "9");
  expect_cuda(NULL, NULL, "torch==1.13.1\n", "11.7", "8");
  expect_cuda("11.8", NULL, "torch==2.5.1\n", "11.8", "8");
  expect_cuda("12.1.1", "8.9", "torch==2.2.0\n", "12.1", "8");
  expect_cuda(NULL, NULL, "tensorflow==2.14.0\n", "11.8", "8");
  expect_cuda(NULL, NULL, "tensorflow==2.15.1\n", "12.2", "8");
  expect_cuda("12.4", NULL, NULL, "12.4", "9");
}

static void test_cuda_errors(void **state) {
  expect_cuda_error(NULL, NULL, "torch\n", "torch version must be specified when using CUDA");
  expect_cuda_error(NULL, NULL, "torch>=2\n", "torch version must be specified when using CUDA");
  expect_cuda_error(NULL, NULL, "torch==1.2.0\n",
                    "cog doesn't know what CUDA version is compatible with torch==1.2.0; set "
                    "build.cuda in cog.yaml");
  expect_cuda_error("12.4", NULL, "torch==2.1.0\n",
                    "torch 2.1.0 is incompatible with CUDA 12.4: torch 2.1.0 has wheels for CUDA "
                    "12.1, 11.8");
  expect_cuda_error("12.1", "9", NULL,
                    "CUDA 12.1 is incompatible with cuDNN 9: compatible cuDNN versions are 8");
  expect_cuda_error("12.1", NULL, "tensorflow==2.14.0\n",
                    "tensorflow 2.14.0 is incompatible with CUDA 12.1: tensorflow 2.14.0 was "
                    "built for CUDA 11.8");
  expect_cuda_error("11.4", NULL, NULL,
                    "invalid build.cuda \"11.4\": no CUDA base image is known for it; use one of "
                    "11.3, 11.5-11.8, 12.1, 12.2, 12.4, 12.6, 12.8, 12.9");
}

/* A GPU config whose pins conflict fails generation with the table's message. */
static void test_gpu_conflict_fails_generation(void **state) {
  pn_config *config = load(DATA "gpu_torch_cuda_pinned");
  pn_free(config->build.cuda);
  config->build.cuda = pn_strdup("12.8");
  char *dockerfile = NULL, *error = NULL;
  assert_int_equal(pn_image_project_dockerfile(config, NULL, NULL, &dockerfile, &error), PN_EINVAL);
  assert_null(dockerfile);
  assert_non_null(strstr(error, "torch 2.5.1 is incompatible with CUDA 12.8"));
  pn_free(error);
  pn_config_free(config);
}

static void test_requirement_pins(void **state) {
  char *version = NULL;
  assert_int_equal(pn_image_requirement_pin("Torch == 2.1.0 ; python_version > '3'\n", "torch",
                                            &version),
                   1);
  assert_string_equal(version, "2.1.0");
  pn_free(version);
  assert_int_equal(pn_image_requirement_pin("torchvision==0.16\n", "torch", &version), 0);
  assert_int_equal(pn_image_requirement_pin("# torch==1\n  torch[cuda]\n", "torch", &version), 1);
  assert_null(version);
  assert_int_equal(pn_image_requirement_pin(NULL, "torch", &version), 0);
}

/* Project files over the threshold get their own layer and leave the code layer;
 * ignored files do not. */
static void test_large_files_get_own_layers(void **state) {
  char *dir = NULL;
  assert_int_equal(pn_fs_mkdtemp("pinion-test-weights", &dir), 0);
  char *sub = pn_fs_join(dir, "weights");
  mkdir(sub, 0700);
  char big[4096];
  memset(big, 'w', sizeof big);
  char *paths[4] = {pn_fs_join(dir, "cog.yaml"), pn_fs_join(sub, "model.bin"),
                    pn_fs_join(dir, "scratch.bin"), pn_fs_join(dir, ".dockerignore")};
  const char yaml[] = "build:\n  python_version: \"3.11\"\nrun: \"predict.py:Predictor\"\n";
  assert_int_equal(pn_fs_write(paths[0], yaml, strlen(yaml)), 0);
  assert_int_equal(pn_fs_write(paths[1], big, sizeof big), 0);
  assert_int_equal(pn_fs_write(paths[2], big, sizeof big), 0);
  assert_int_equal(pn_fs_write(paths[3], "scratch.bin\n", 12), 0);
  setenv("PINION_WEIGHTS_THRESHOLD", "1024", 1);
  pn_config *config = load(dir);
  char *dockerfile = NULL, *error = NULL;
  assert_int_equal(pn_image_project_dockerfile(config, NULL, NULL, &dockerfile, &error), 0);
  unsetenv("PINION_WEIGHTS_THRESHOLD");
  const char *layer = strstr(dockerfile, "COPY [\"weights/model.bin\", \"/src/weights/model.bin\"]");
  assert_non_null(layer);
  assert_true(layer < strstr(dockerfile, "COPY . /src"));
  assert_null(strstr(dockerfile, "scratch.bin"));
  pn_free(dockerfile);
  pn_config_free(config);
  pn_fs_remove_tree(dir);
  for (int i = 0; i < 4; i++)
    pn_free(paths[i]);
  pn_free(sub);
  pn_free(dir);
}

static void test_default_tag(void **state) {
  char *tag = pn_image_default_tag("/home/me/My Model_v2!");
  assert_string_equal(tag, "cog-my-modelv2");
  pn_free(tag);
  tag = pn_image_default_tag("/x/an-extremely-long-folder-name-for-a-model");
  assert_int_equal(strlen(tag), 30);
  pn_free(tag);
}

static void test_builder_tag(void **state) {
  static const char *const cases[][2] = {
      {"pinion-base:3.11", "pinion-base-builder:3.11"},
      {"localhost/pinion-test-base:3.11", "localhost/pinion-test-base-builder:3.11"},
      {"localhost:5000/base", "localhost:5000/base-builder"},
      {"localhost:5000/team/base:v2", "localhost:5000/team/base-builder:v2"},
      {"base", "base-builder"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *tag = pn_image_builder_tag(cases[i][0]);
    assert_string_equal(tag, cases[i][1]);
    pn_free(tag);
  }
}

/* The builder image installs exactly the packages stage 1 checks for, so a build on
 * it finds none missing. */
static void test_builder_dockerfile(void **state) {
  char *dockerfile = pn_image_builder_dockerfile("localhost/pinion-base:3.11");
  assert_non_null(strstr(dockerfile, "\nFROM localhost/pinion-base:3.11\nRUN missing=; for package in "
                                     "build-essential pkg-config libevent-dev "));
  char *project = NULL, *error = NULL;
  pn_config *config = load(DATA "base_builder");
  assert_int_equal(pn_image_project_dockerfile(config, "localhost/pinion-base:3.11",
                                               "localhost/pinion-base-builder:3.11", &project,
                                               &error),
                   0);
  const char *install = strstr(dockerfile, "RUN missing=");
  const char *stage1 = strstr(project, "RUN missing=");
  assert_non_null(stage1);
  assert_memory_equal(install, stage1, strlen(install));
  pn_free(project);
  pn_config_free(config);
  pn_free(dockerfile);
}

static void test_loopback_registries(void **state) {
  assert_true(pn_image_is_loopback_registry("127.0.0.1:5000/hello:latest"));
  assert_true(pn_image_is_loopback_registry("localhost:5000/hello"));
  assert_false(pn_image_is_loopback_registry("r8.im/acme/hello"));
  assert_false(pn_image_is_loopback_registry("localhostile.example/x"));
}

static void test_unknown_engine(void **state) {
  pn_image_engine engine;
  char *error = NULL;
  assert_int_equal(pn_image_engine_find("rkt", &engine, &error), PN_ENOENT);
  assert_string_equal(error, "unknown engine \"rkt\": use docker, podman or buildah");
  pn_free(error);
}

static void expect_source(const char *remote, const char *expected) {
  char *label = pn_image_source_url(remote);
  if (expected)
    assert_string_equal(label, expected);
  else
    assert_null(label);
  pn_free(label);
}

/* Issue 14 item 12: a local folder, or a token in a remote, never becomes a label. */
static void test_source_label_only_from_a_remote_url(void **state) {
  expect_source("https://github.com/acme/model.git", "https://github.com/acme/model");
  expect_source("https://user:ghp_secret@github.com/acme/model", "https://github.com/acme/model");
  expect_source("git@github.com:acme/model.git", "https://github.com/acme/model");
  expect_source("ssh://git@gitlab.example:2222/group/model.git", "https://gitlab.example/group/model");
  expect_source("/work/main", NULL);
  expect_source("../model", NULL);
  expect_source("file:///srv/git/model.git", NULL);
  expect_source("C:/repos/model", NULL);
  expect_source("https://github.com", NULL);
  expect_source(NULL, NULL);
}

int main(void) {
  pn_alloc_install_json();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_variant_cpu_minimal),
      cmocka_unit_test(test_variant_base_builder),
      cmocka_unit_test(test_variant_cpu_python38),
      cmocka_unit_test(test_variant_cpu_requirements),
      cmocka_unit_test(test_variant_cpu_python_packages),
      cmocka_unit_test(test_variant_cpu_system_packages),
      cmocka_unit_test(test_variant_run_steps),
      cmocka_unit_test(test_variant_run_secrets),
      cmocka_unit_test(test_variant_environment),
      cmocka_unit_test(test_variant_gpu_default),
      cmocka_unit_test(test_variant_gpu_torch),
      cmocka_unit_test(test_variant_gpu_torch_cuda_pinned),
      cmocka_unit_test(test_variant_gpu_tensorflow),
      cmocka_unit_test(test_variant_gpu_torch_27),
      cmocka_unit_test(test_variant_train_concurrency),
      cmocka_unit_test(test_variant_pre_install),
      cmocka_unit_test(test_variant_base_image),
      cmocka_unit_test(test_variant_weights),
      cmocka_unit_test(test_code_is_last_layer),
      cmocka_unit_test(test_cuda_choices),
      cmocka_unit_test(test_cuda_errors),
      cmocka_unit_test(test_gpu_conflict_fails_generation),
      cmocka_unit_test(test_requirement_pins),
      cmocka_unit_test(test_large_files_get_own_layers),
      cmocka_unit_test(test_default_tag),
      cmocka_unit_test(test_builder_tag),
      cmocka_unit_test(test_builder_dockerfile),
      cmocka_unit_test(test_loopback_registries),
      cmocka_unit_test(test_unknown_engine),
      cmocka_unit_test(test_source_label_only_from_a_remote_url),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
