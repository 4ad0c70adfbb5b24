/* libFuzzer target for the reader of bubblewrap's --info-fd JSON
 * (director/sandbox_network.c pn_sandbox_network_child_pid): the hub reads the sandbox's pid
 * there before it attaches slirp4netns to the sandbox's network namespace. Input: the
 * bytes bubblewrap wrote.
 *
 * Invariants: the pid is 0 (none) or a plausible pid, never 1 or a negative one (the hub
 * opens /proc/PID/ns/net with it), and reading never overruns the input. */
#include "core/alloc.h"
#include "director/sandbox_network.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pn_alloc_install_json();
  pid_t pid = pn_sandbox_network_child_pid((const char *)data, size);
  if (pid != 0 && (pid <= 1 || pid >= 1 << 30))
    abort();
  return 0;
}
