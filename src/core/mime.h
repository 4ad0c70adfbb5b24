/* Media types from file extensions and back, for data URIs, uploads and served
 * files. A table of the types models produce and consume; unknown extensions are
 * application/octet-stream, as Cog does. */
#ifndef PN_CORE_MIME_H
#define PN_CORE_MIME_H

/* The media type for a file name or path ("x/out.png" gives "image/png"). Static. */
const char *pn_mime_for_path(const char *path);
/* The usual extension with its dot for a media type (".png"), or "" when unknown.
 * Parameters after ';' are ignored. Static. */
const char *pn_mime_extension(const char *media_type);

#endif
