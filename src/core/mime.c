/* The media-type table. See mime.h. */
#include "core/mime.h"

#include <string.h>
#include <strings.h>

static const struct {
  const char *extension;
  const char *type;
} table[] = {
    {".png", "image/png"},         {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},       {".gif", "image/gif"},
    {".webp", "image/webp"},       {".bmp", "image/bmp"},
    {".tif", "image/tiff"},        {".tiff", "image/tiff"},
    {".svg", "image/svg+xml"},     {".ico", "image/vnd.microsoft.icon"},
    {".avif", "image/avif"},       {".heic", "image/heic"},
    {".wav", "audio/wav"},         {".mp3", "audio/mpeg"},
    {".ogg", "audio/ogg"},         {".oga", "audio/ogg"},
    {".flac", "audio/flac"},       {".m4a", "audio/mp4"},
    {".aac", "audio/aac"},         {".opus", "audio/opus"},
    {".mp4", "video/mp4"},         {".webm", "video/webm"},
    {".mov", "video/quicktime"},   {".avi", "video/x-msvideo"},
    {".mkv", "video/x-matroska"},  {".gifv", "video/mp4"},
    {".txt", "text/plain"},        {".md", "text/markdown"},
    {".csv", "text/csv"},          {".html", "text/html"},
    {".htm", "text/html"},         {".css", "text/css"},
    {".js", "text/javascript"},    {".json", "application/json"},
    {".jsonl", "application/jsonl"}, {".xml", "application/xml"},
    {".yaml", "application/yaml"}, {".yml", "application/yaml"},
    {".pdf", "application/pdf"},   {".zip", "application/zip"},
    {".tar", "application/x-tar"}, {".gz", "application/gzip"},
    {".tgz", "application/gzip"},  {".zst", "application/zstd"},
    {".npy", "application/octet-stream"}, {".safetensors", "application/octet-stream"},
    {".glb", "model/gltf-binary"}, {".gltf", "model/gltf+json"},
    {".obj", "model/obj"},         {".ply", "application/octet-stream"},
    {".stl", "model/stl"},         {".bin", "application/octet-stream"},
};

const char *pn_mime_for_path(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *dot = strrchr(slash ? slash + 1 : path, '.');
  if (dot)
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
      if (strcasecmp(dot, table[i].extension) == 0)
        return table[i].type;
  return "application/octet-stream";
}

const char *pn_mime_extension(const char *media_type) {
  size_t length = strcspn(media_type, ";");
  while (length && media_type[length - 1] == ' ')
    length--;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strlen(table[i].type) == length && strncasecmp(media_type, table[i].type, length) == 0 &&
        strcmp(table[i].type, "application/octet-stream") != 0)
      return table[i].extension;
  return "";
}
