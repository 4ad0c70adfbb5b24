/* webhook_events_filter. See webhook_events.h. */
#include "core/webhook_events.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"

#include <string.h>

static const char *const names[] = {"start", "output", "logs", "completed"};
#define EVENT_COUNT (sizeof names / sizeof names[0])

int pn_webhook_events_parse(const json_t *filter, unsigned *mask, char **error) {
  *mask = PN_WEBHOOK_ALL;
  if (error)
    *error = NULL;
  if (!filter || json_is_null(filter))
    return 0;
  if (!json_is_array(filter)) {
    if (error)
      *error = pn_strdup("webhook_events_filter must be a list of start, output, logs, completed");
    return PN_EINVAL;
  }
  unsigned chosen = 0;
  size_t index;
  json_t *entry;
  json_array_foreach(filter, index, entry) {
    const char *name = json_string_value(entry);
    unsigned bit = 0;
    for (size_t i = 0; name && i < EVENT_COUNT; i++)
      if (strcmp(name, names[i]) == 0)
        bit = 1u << i;
    if (!bit) {
      if (error) {
        char *shown = pn_json_dump(entry, PN_JSON_COMPACT);
        *error = pn_strfmt("webhook_events_filter[%zu]: unknown variant %s, expected one of "
                           "`start`, `output`, `logs`, `completed`",
                           index, shown ? shown : "?");
        pn_free(shown);
      }
      return PN_EINVAL;
    }
    chosen |= bit;
  }
  *mask = chosen;
  return 0;
}

json_t *pn_webhook_events_json(unsigned mask) {
  json_t *list = json_array();
  for (size_t i = 0; list && i < EVENT_COUNT; i++)
    if (mask & (1u << i))
      json_array_append_new(list, json_string(names[i]));
  return list;
}
