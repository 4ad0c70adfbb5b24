/* libFuzzer target for the cog.yaml loader: any bytes must parse into a config or a list
 * of diagnostics without crashing, leaking or reading out of bounds. */
#include "config/config.h"
#include "core/alloc.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pn_alloc_install_json();
  pn_diag_list diags;
  pn_diag_list_init(&diags);
  pn_config *config = NULL;
  pn_config_parse((const char *)data, size, "cog.yaml", &config, &diags);
  for (size_t i = 0; i < diags.count; i++)
    pn_free(pn_diag_format(&diags.items[i]));
  pn_config_free(config);
  pn_diag_list_free(&diags);
  return 0;
}
