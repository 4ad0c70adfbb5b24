/* Unit tests for the hub's sandbox (director/sandbox.c): the isolation modes, the bubblewrap
 * argv it builds (namespaces, the unprivileged uid, what is bound read-only and what is
 * writable, the environment built from nothing), the binds of a Python outside /usr, the
 * limits from the environment and the probe's failure message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"
#include "director/sandbox.h"
#include "director/sandbox_network.h"
#include "director/sandbox_routes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t count_of(char **argv) {
  size_t count = 0;
  while (argv[count])
    count++;
  return count;
}

/* The index of `a` followed by `b` (and `c` unless NULL), or -1. */
static long find(char **argv, const char *a, const char *b, const char *c) {
  for (size_t i = 0; argv[i]; i++) {
    if (strcmp(argv[i], a) != 0)
      continue;
    if (b && (!argv[i + 1] || strcmp(argv[i + 1], b) != 0))
      continue;
    if (b && c && (!argv[i + 2] || strcmp(argv[i + 2], c) != 0))
      continue;
    return (long)i;
  }
  return -1;
}

static pn_sandbox *new_sandbox(const char *python) {
  pn_sandbox_options options = {.bwrap = "/bin/true", .pinion = "/bin/true", .python = python};
  pn_sandbox *sandbox = NULL;
  char *error = NULL;
  assert_int_equal(pn_sandbox_new(&options, &sandbox, &error), 0);
  assert_null(error);
  return sandbox;
}

static void isolation_modes_parse_by_name(void **state) {
  enum pn_isolation isolation = PN_ISOLATION_NONE;
  assert_int_equal(pn_isolation_parse("bubblewrap", &isolation), 0);
  assert_int_equal(isolation, PN_ISOLATION_BUBBLEWRAP);
  assert_int_equal(pn_isolation_parse("container", &isolation), 0);
  assert_int_equal(isolation, PN_ISOLATION_CONTAINER);
  assert_int_equal(pn_isolation_parse("none", &isolation), 0);
  assert_int_equal(isolation, PN_ISOLATION_NONE);
  assert_int_equal(pn_isolation_parse("chroot", &isolation), PN_EINVAL);
  assert_int_equal(pn_isolation_parse(NULL, &isolation), PN_EINVAL);
  assert_int_equal(isolation, PN_ISOLATION_NONE); /* unchanged by a failure */
  /* The zero value is the default: options that say nothing sandbox. */
  assert_int_equal((enum pn_isolation)0, PN_ISOLATION_BUBBLEWRAP);
}

static void the_argv_isolates_binds_and_clears_the_environment(void **state) {
  setenv("COG_THROTTLE_RESPONSE_INTERVAL", "0.25", 1);
  setenv("PINION_TEST_CANARY", "leaked", 1);
  char *scratch = NULL;
  assert_int_equal(pn_fs_mkdtemp("pn-sandbox-test", &scratch), 0);
  pn_sandbox *sandbox = new_sandbox(NULL);
  const char *command[] = {"/usr/bin/true", "serve", "/src", NULL};
  char **argv = NULL;
  assert_int_equal(
      pn_sandbox_argv(sandbox, "/data/bundles/abc", scratch, "/data/internal.sock", 0, command, &argv),
      0);
  size_t count = count_of(argv);
  assert_string_equal(argv[0], "/bin/true"); /* the bubblewrap program */
  static const char *const flags[] = {"--unshare-user", "--unshare-pid",     "--unshare-ipc",
                                      "--unshare-uts",  "--die-with-parent", "--clearenv"};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    assert_true(find(argv, flags[i], NULL, NULL) > 0);
  /* A network of its own: the host's loopback (the hub, databases, other instances) is
   * not there; the hub's internal listener is, as a socket bound read-only. */
  assert_true(find(argv, "--unshare-net", NULL, NULL) > 0);
  assert_true(find(argv, "--ro-bind", "/data/internal.sock", "/run/pinion-hub.sock") > 0);
  /* The instance makes the session itself, so that bubblewrap's processes stay in the
   * group the hub kills. */
  assert_int_equal(find(argv, "--new-session", NULL, NULL), -1);
  assert_true(find(argv, "--uid", "65534", NULL) > 0);
  assert_true(find(argv, "--gid", "65534", NULL) > 0);
  assert_true(find(argv, "--cap-drop", "ALL", NULL) > 0);
  assert_true(find(argv, "--ro-bind", "/usr", "/usr") > 0);
  assert_true(find(argv, "--ro-bind", "/data/bundles/abc", "/src") > 0);
  assert_true(find(argv, "--bind", scratch, "/run/pinion") > 0);
  char *tmp = pn_fs_join(scratch, "tmp");
  assert_true(find(argv, "--bind", tmp, "/tmp") > 0);
  assert_true(find(argv, "--proc", "/proc", NULL) > 0);
  assert_true(find(argv, "--dev", "/dev", NULL) > 0);
  /* The fresh /dev comes before every bind: a GPU's device nodes bound after it show in
   * the sandbox, where bound before it they were hidden under it. */
  for (size_t i = 0; argv[i]; i++)
    if (strncmp(argv[i], "--", 2) == 0 && strstr(argv[i], "bind"))
      assert_true((long)i > find(argv, "--dev", "/dev", NULL));
  assert_true(find(argv, "--chdir", "/src", NULL) > 0);
  /* The only writable host paths are the scratch folder and its tmp/. */
  for (size_t i = 0; argv[i]; i++)
    if (strcmp(argv[i], "--bind") == 0 || strcmp(argv[i], "--bind-try") == 0)
      assert_memory_equal(argv[i + 1], scratch, strlen(scratch));
  /* The environment: cleared, then Cog's base and the operator's Cog settings only. */
  long cleared = find(argv, "--clearenv", NULL, NULL);
  assert_true(cleared < find(argv, "--setenv", NULL, NULL));
  assert_true(find(argv, "--setenv", "HOME", "/tmp") > cleared);
  assert_true(find(argv, "--setenv", "PYTHONUNBUFFERED", "1") > cleared);
  assert_true(find(argv, "--setenv", "COG_THROTTLE_RESPONSE_INTERVAL", "0.25") > cleared);
  for (size_t i = 0; argv[i]; i++)
    assert_null(strstr(argv[i], "PINION_TEST_CANARY"));
  /* The command comes last, after "--". */
  assert_string_equal(argv[count - 4], "--");
  assert_string_equal(argv[count - 3], "/usr/bin/true");
  assert_string_equal(argv[count - 1], "/src");
  /* The scratch folder holds tmp/ and a passwd naming only root and nobody. */
  assert_true(pn_fs_is_dir(tmp));
  char *passwd_path = pn_fs_join(scratch, "passwd");
  char *passwd = NULL;
  assert_int_equal(pn_fs_read(passwd_path, 4096, &passwd, NULL), 0);
  assert_non_null(strstr(passwd, "nobody:x:65534:65534:"));
  assert_true(find(argv, "--ro-bind", passwd_path, "/etc/passwd") > 0);
  pn_free(passwd);
  pn_free(passwd_path);
  pn_free(tmp);
  pn_sandbox_argv_free(argv);
  /* Without a bundle, the sandbox starts in /tmp and binds nothing at /src. */
  assert_int_equal(pn_sandbox_argv(sandbox, NULL, scratch, NULL, 0, command, &argv), 0);
  assert_true(find(argv, "--chdir", "/tmp", NULL) > 0);
  for (size_t i = 0; argv[i]; i++)
    if (strcmp(argv[i], "--ro-bind") == 0)
      assert_string_not_equal(argv[i + 2], "/src");
  pn_sandbox_argv_free(argv);
  pn_sandbox_free(sandbox);
  pn_fs_remove_tree(scratch);
  pn_free(scratch);
  unsetenv("COG_THROTTLE_RESPONSE_INTERVAL");
  unsetenv("PINION_TEST_CANARY");
}

static void hidden_options_leave_only_the_command_on_the_command_line(void **state) {
  char *scratch = NULL;
  assert_int_equal(pn_fs_mkdtemp("pn-sandbox-hide", &scratch), 0);
  pn_sandbox *sandbox = new_sandbox(NULL);
  const char *command[] = {"/usr/bin/true", "serve", "/src", NULL};
  char **argv = NULL;
  assert_int_equal(
      pn_sandbox_argv(sandbox, "/data/bundles/abc", scratch, NULL, 0, command, &argv), 0);
  size_t options = 0;
  while (strcmp(argv[options + 1], "--") != 0)
    options++;
  char *expected = NULL;
  size_t expected_length = 0;
  for (size_t i = 1; i <= options; i++) {
    size_t length = strlen(argv[i]) + 1;
    expected = pn_realloc(expected, expected_length + length);
    memcpy(expected + expected_length, argv[i], length);
    expected_length += length;
  }
  int fd = -1;
  assert_int_equal(pn_sandbox_hide_options(&argv, &fd), 0);
  assert_true(fd >= 0);
  assert_int_equal(count_of(argv), 7);
  assert_string_equal(argv[0], "/bin/true");
  assert_string_equal(argv[1], "--args");
  assert_string_equal(argv[2], "3");
  assert_string_equal(argv[3], "--");
  assert_string_equal(argv[4], "/usr/bin/true");
  assert_string_equal(argv[6], "/src");
  char *read_back = pn_malloc(expected_length + 16);
  ssize_t got = read(fd, read_back, expected_length + 16);
  assert_int_equal(got, (ssize_t)expected_length);
  assert_memory_equal(read_back, expected, expected_length);
  assert_non_null(memmem(read_back, expected_length, "/data/bundles/abc", 17));
  close(fd);
  pn_free(read_back);
  pn_free(expected);
  pn_sandbox_argv_free(argv);
  pn_sandbox_free(sandbox);
  pn_fs_remove_tree(scratch);
  pn_free(scratch);
}

static void a_python_outside_usr_is_bound_with_its_venv(void **state) {
  char *root = NULL;
  assert_int_equal(pn_fs_mkdtemp("pn-sandbox-python", &root), 0);
  char *prefix = pn_fs_join(root, "python");
  char *bin = pn_fs_join(prefix, "bin");
  char *interpreter = pn_fs_join(bin, "python3");
  char *venv = pn_fs_join(root, "venv");
  char *venv_bin = pn_fs_join(venv, "bin");
  char *venv_python = pn_fs_join(venv_bin, "python");
  assert_int_equal(mkdir(prefix, 0700), 0);
  assert_int_equal(mkdir(bin, 0700), 0);
  assert_int_equal(pn_fs_write(interpreter, "", 0), 0);
  assert_int_equal(mkdir(venv, 0700), 0);
  assert_int_equal(mkdir(venv_bin, 0700), 0);
  assert_int_equal(symlink(interpreter, venv_python), 0);
  char resolved_prefix[4096], resolved_venv[4096];
  assert_non_null(realpath(prefix, resolved_prefix));
  assert_non_null(realpath(venv, resolved_venv));

  pn_sandbox *sandbox = new_sandbox(venv_python);
  char *scratch = pn_fs_join(root, "scratch");
  assert_int_equal(mkdir(scratch, 0700), 0);
  const char *command[] = {"x", NULL};
  char **argv = NULL;
  assert_int_equal(pn_sandbox_argv(sandbox, NULL, scratch, NULL, 0, command, &argv), 0);
  assert_true(find(argv, "--ro-bind", resolved_prefix, resolved_prefix) > 0);
  assert_true(find(argv, "--ro-bind", venv, venv) > 0);
  pn_sandbox_argv_free(argv);
  pn_sandbox_free(sandbox);

  /* A bare name is found on the sandbox's PATH, under /usr: nothing more is bound. */
  sandbox = new_sandbox("python3");
  assert_int_equal(pn_sandbox_argv(sandbox, NULL, scratch, NULL, 0, command, &argv), 0);
  assert_int_equal(find(argv, "--ro-bind", resolved_prefix, NULL), -1);
  pn_sandbox_argv_free(argv);
  pn_sandbox_free(sandbox);

  /* A relative path cannot be bound: the error says what to give instead. */
  pn_sandbox_options options = {.bwrap = "/bin/true", .pinion = "/bin/true", .python = "env/py"};
  char *error = NULL;
  assert_int_equal(pn_sandbox_new(&options, &sandbox, &error), PN_EINVAL);
  assert_null(sandbox);
  assert_non_null(strstr(error, "must be an absolute path"));
  pn_free(error);

  pn_fs_remove_tree(root);
  pn_free(scratch);
  pn_free(venv_python);
  pn_free(venv_bin);
  pn_free(venv);
  pn_free(interpreter);
  pn_free(bin);
  pn_free(prefix);
  pn_free(root);
}

static void a_missing_bubblewrap_is_named(void **state) {
  pn_sandbox_options options = {.bwrap = "/nonexistent/bwrap", .pinion = "/bin/true"};
  pn_sandbox *sandbox = NULL;
  char *error = NULL;
  assert_int_equal(pn_sandbox_new(&options, &sandbox, &error), PN_ENOENT);
  assert_null(sandbox);
  assert_string_equal(error, "bubblewrap (\"/nonexistent/bwrap\") was not found");
  pn_free(error);
}

static void a_failing_probe_quotes_bubblewrap(void **state) {
  pn_sandbox_options options = {.bwrap = "/bin/false", .pinion = "/bin/true"};
  pn_sandbox *sandbox = NULL;
  char *error = NULL;
  assert_int_equal(pn_sandbox_new(&options, &sandbox, &error), 0);
  char *root = NULL;
  assert_int_equal(pn_fs_mkdtemp("pn-sandbox-probe", &root), 0);
  char *scratch = pn_fs_join(root, "probe");
  assert_int_equal(pn_sandbox_probe(sandbox, scratch, &error), PN_ECHILD);
  assert_string_equal(error, "bubblewrap (/bin/false) cannot run models: it failed without a word");
  assert_false(pn_fs_is_dir(scratch)); /* removed after the probe */
  pn_free(error);
  pn_sandbox_free(sandbox);
  pn_fs_remove_tree(root);
  pn_free(scratch);
  pn_free(root);
}

static void limits_and_the_options_fd_reach_the_child(void **state) {
  setenv("PINION_SANDBOX_MEMORY_MB", "300", 1);
  setenv("PINION_SANDBOX_PROCESSES", "77", 1);
  pn_sandbox_options options = pn_sandbox_options_from_env();
  assert_true(options.memory_bytes == 300ull * 1024 * 1024);
  assert_int_equal(options.processes, 77);
  unsetenv("PINION_SANDBOX_MEMORY_MB");
  unsetenv("PINION_SANDBOX_PROCESSES");
  options = pn_sandbox_options_from_env();
  assert_true(options.memory_bytes == (unsigned long long)PN_SANDBOX_MEMORY_MB_DEFAULT << 20);
  assert_int_equal(options.processes, PN_SANDBOX_PROCESSES_DEFAULT);

  options.bwrap = "/bin/true";
  options.pinion = "/bin/true";
  options.memory_bytes = 300ull * 1024 * 1024;
  options.processes = 77;
  pn_sandbox *sandbox = NULL;
  char *error = NULL;
  assert_int_equal(pn_sandbox_new(&options, &sandbox, &error), 0);
  int options_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_true(options_fd >= 0);
  pid_t pid = fork();
  if (pid == 0) {
    pn_sandbox_child_setup(sandbox, options_fd);
    struct rlimit data, processes;
    getrlimit(RLIMIT_DATA, &data);
    getrlimit(RLIMIT_NPROC, &processes);
    int flags = fcntl(PN_SANDBOX_OPTIONS_FD, F_GETFD); /* open across exec */
    _exit(data.rlim_cur == 300ull * 1024 * 1024 && processes.rlim_cur == 77 && flags == 0 ? 0 : 1);
  }
  close(options_fd);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  pn_sandbox_free(sandbox);
}

/* With the network on, bubblewrap reports its sandbox's pid and waits for slirp4netns,
 * and the sandbox resolves names through slirp4netns's DNS; without, none of that. A
 * missing slirp4netns is named with the way out. */
static void the_network_is_waited_for_only_when_it_is_on(void **state) {
  char *scratch = NULL;
  assert_int_equal(pn_fs_mkdtemp("pn-sandbox-network", &scratch), 0);
  pn_sandbox_options options = {
      .bwrap = "/bin/true", .pinion = "/bin/true", .network = 1, .slirp4netns = "/bin/true"};
  pn_sandbox *sandbox = NULL;
  char *error = NULL;
  assert_int_equal(pn_sandbox_new(&options, &sandbox, &error), 0);
  assert_string_equal(pn_sandbox_slirp4netns(sandbox), "/bin/true");
  const char *command[] = {"x", NULL};
  char **argv = NULL;
  assert_int_equal(pn_sandbox_argv(sandbox, NULL, scratch, NULL, 1, command, &argv), 0);
  assert_true(find(argv, "--unshare-net", NULL, NULL) > 0);
  assert_true(find(argv, "--info-fd", "4", NULL) > 0);
  /* The command waits (pinion serve --x-wait-fd), not bubblewrap: its start overlaps
   * slirp4netns's. */
  assert_int_equal(find(argv, "--block-fd", NULL, NULL), -1);
  char *resolv = pn_fs_join(scratch, "resolv.conf");
  long host = find(argv, "--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf");
  long own = find(argv, "--ro-bind", resolv, "/etc/resolv.conf");
  assert_true(own > host); /* bound over the host's */
  char *text = NULL;
  assert_int_equal(pn_fs_read(resolv, 64, &text, NULL), 0);
  assert_string_equal(text, "nameserver 10.0.2.3\n");
  pn_free(text);
  pn_sandbox_argv_free(argv);
  /* The probe's sandbox (network 0) waits for nothing. */
  assert_int_equal(pn_sandbox_argv(sandbox, NULL, scratch, NULL, 0, command, &argv), 0);
  assert_int_equal(find(argv, "--info-fd", NULL, NULL), -1);
  assert_true(find(argv, "--unshare-net", NULL, NULL) > 0);
  pn_sandbox_argv_free(argv);
  pn_sandbox_free(sandbox);

  options.network = 0;
  assert_int_equal(pn_sandbox_new(&options, &sandbox, &error), 0);
  assert_null(pn_sandbox_slirp4netns(sandbox));
  assert_int_equal(pn_sandbox_argv(sandbox, NULL, scratch, NULL, 1, command, &argv), 0);
  assert_int_equal(find(argv, "--info-fd", NULL, NULL), -1);
  assert_int_equal(find(argv, "--block-fd", NULL, NULL), -1);
  assert_int_equal(find(argv, "--ro-bind", resolv, "/etc/resolv.conf"), -1);
  assert_true(find(argv, "--unshare-net", NULL, NULL) > 0);
  pn_sandbox_argv_free(argv);
  pn_sandbox_free(sandbox);

  options.network = 1;
  options.slirp4netns = "/nonexistent/slirp4netns";
  assert_int_equal(pn_sandbox_new(&options, &sandbox, &error), PN_EUNSUPPORTED);
  assert_non_null(strstr(error, "slirp4netns (\"/nonexistent/slirp4netns\")"));
  assert_non_null(strstr(error, "apt-get install slirp4netns"));
  assert_non_null(strstr(error, "--instance-network off"));
  pn_free(error);
  pn_free(resolv);
  pn_fs_remove_tree(scratch);
  pn_free(scratch);
}

/* bubblewrap's --info-fd JSON gives the sandbox's pid; anything else gives none. */
static void the_sandbox_pid_is_read_from_bubblewraps_info(void **state) {
  static const char info[] = "{\n    \"child-pid\": 4242\n}\n";
  assert_int_equal(pn_sandbox_network_child_pid(info, sizeof info - 1), 4242);
  static const char *const none[] = {"", "{", "{\"child-pid\": \"1\"}", "{\"child-pid\": 1}",
                                     "{\"child-pid\": -5}", "{\"child-pid\": 99999999999}",
                                     "[4242]", "{\"pid\": 4242}"};
  for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
    assert_int_equal(pn_sandbox_network_child_pid(none[i], strlen(none[i])), 0);
}

static int has_route(const pn_sandbox_routes *routes, const char *address, int prefix) {
  struct in_addr parsed;
  assert_int_equal(inet_pton(AF_INET, address, &parsed), 1);
  for (size_t i = 0; i < routes->count; i++)
    if (routes->entries[i].address == parsed.s_addr && routes->entries[i].prefix == prefix)
      return 1;
  return 0;
}

/* The refused destinations: 169.254.0.0/16 and each of the host's IPv4 addresses but
 * loopback's, once each. */
static void the_hosts_addresses_and_link_local_are_refused(void **state) {
  pn_sandbox_routes routes;
  assert_int_equal(pn_sandbox_routes_collect(&routes), 0);
  assert_true(has_route(&routes, "169.254.0.0", 16));
  assert_true(has_route(&routes, "10.89.192.0", 18)); /* image versions' containers */
  assert_false(has_route(&routes, "127.0.0.1", 32));
  struct ifaddrs *list = NULL;
  assert_int_equal(getifaddrs(&list), 0);
  size_t expected = 2;
  for (struct ifaddrs *item = list; item; item = item->ifa_next) {
    if (!item->ifa_addr || item->ifa_addr->sa_family != AF_INET)
      continue;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)item->ifa_addr)->sin_addr, text, sizeof text);
    if (strncmp(text, "127.", 4) == 0)
      continue;
    assert_true(has_route(&routes, text, 32));
    expected++;
  }
  freeifaddrs(list);
  assert_true(routes.count <= expected); /* an address on two interfaces counts once */
  for (size_t i = 0; i < routes.count; i++)
    for (size_t j = i + 1; j < routes.count; j++)
      assert_false(routes.entries[i].address == routes.entries[j].address &&
                   routes.entries[i].prefix == routes.entries[j].prefix);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(isolation_modes_parse_by_name),
      cmocka_unit_test(the_argv_isolates_binds_and_clears_the_environment),
      cmocka_unit_test(hidden_options_leave_only_the_command_on_the_command_line),
      cmocka_unit_test(a_python_outside_usr_is_bound_with_its_venv),
      cmocka_unit_test(a_missing_bubblewrap_is_named),
      cmocka_unit_test(a_failing_probe_quotes_bubblewrap),
      cmocka_unit_test(limits_and_the_options_fd_reach_the_child),
      cmocka_unit_test(the_network_is_waited_for_only_when_it_is_on),
      cmocka_unit_test(the_sandbox_pid_is_read_from_bubblewraps_info),
      cmocka_unit_test(the_hosts_addresses_and_link_local_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
