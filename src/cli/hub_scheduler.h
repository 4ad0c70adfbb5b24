/* The scheduler `pinion hub` runs its predictions on: director/scheduler.h's, behind the
 * hub's interface (hub/scheduling.h). The hub knows no model server, the director no hub;
 * the CLI composes them (DESIGN: cli -> hub, director). */
#ifndef PN_CLI_HUB_SCHEDULER_H
#define PN_CLI_HUB_SCHEDULER_H

#include "director/sandbox.h"
#include "hub/scheduling.h"

/* What the CLI knows of how instances run; the hub's part comes with start. */
typedef struct pn_cli_hub_scheduler_options {
  const char *python;          /* --python, or NULL */
  double idle_timeout;         /* --idle-timeout; <= 0: 60 */
  enum pn_isolation isolation; /* --isolation */
  int instance_network_off;    /* --instance-network off */
} pn_cli_hub_scheduler_options;

/* The table to put in pn_hub_options.scheduler, with a pn_cli_hub_scheduler_options as
 * its context. */
extern const pn_hub_scheduler_ops pn_cli_hub_scheduler_ops;

#endif
