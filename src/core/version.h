/* Version strings. PINION_VERSION comes from the VERSION file through the Makefile;
 * PN_COG_VERSION is the level of the Cog standard pinion implements. */
#ifndef PN_CORE_VERSION_H
#define PN_CORE_VERSION_H

#ifndef PINION_VERSION
#define PINION_VERSION "0.0.0"
#endif
#define PN_COG_VERSION "0.22.0"

#endif
