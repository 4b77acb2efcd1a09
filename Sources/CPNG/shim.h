#include <png.h>
// Composed and function-like macros re-exported as values Swift can see.
static const png_uint_32 tunelab_png_format_rgba = PNG_FORMAT_RGBA;
static const png_uint_32 tunelab_png_format_rgb = PNG_FORMAT_RGB;
static const png_uint_32 tunelab_png_image_version = PNG_IMAGE_VERSION;
static inline size_t tunelab_png_image_size(png_image *img) { return PNG_IMAGE_SIZE(*img); }
