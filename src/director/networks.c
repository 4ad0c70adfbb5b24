/* The instances' container networks (networks.h). */
#include "director/networks.h"

#include <stdio.h>

void pn_network_slot_get(int slot, pn_network_slot *out) {
  int third = 192 + (slot & 63);
  snprintf(out->name, sizeof out->name, "pinion-10-89-%d", third);
  snprintf(out->subnet, sizeof out->subnet, "10.89.%d.0/24", third);
  snprintf(out->gateway, sizeof out->gateway, "10.89.%d.1", third);
}
