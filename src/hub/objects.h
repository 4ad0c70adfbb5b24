/* The public JSON shapes of the hub's resources, built from their store rows: what
 * Replicate's clients read (platform spec §2-3). Each returns a new reference the
 * caller releases. */
#ifndef PN_HUB_OBJECTS_H
#define PN_HUB_OBJECTS_H

#include "hub/hub.h"

json_t *pn_hub_account_object(const json_t *account);
json_t *pn_hub_model_object(pn_hub *hub, const json_t *model);
json_t *pn_hub_version_object(const json_t *version);
json_t *pn_hub_prediction_object(pn_hub *hub, const json_t *prediction);
json_t *pn_hub_file_object(pn_hub *hub, const json_t *file);
json_t *pn_hub_deployment_object(pn_hub *hub, const json_t *deployment);

#endif
