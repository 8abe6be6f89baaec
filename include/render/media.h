#ifndef VF_RENDER_MEDIA_H
#define VF_RENDER_MEDIA_H
/* Scene backgrounds from the local media library (cfg->media_dir): still
 * images with a slow Ken Burns move, and video clips cropped to the frame's
 * aspect, trimmed to the scene and looped when shorter. Files are decoded
 * in-process one frame at a time, so a long clip costs no more memory than a
 * short one. Only plain file names directly inside media_dir are ever
 * opened: no paths, no hidden files, nothing above the library. */
#include <stddef.h>
#include <jansson.h>
#include <libavutil/frame.h>
#include "core/err.h"

#define MEDIA_MAX_PIXELS (64 * 1024 * 1024)    /* a larger image or clip is refused */
#define MEDIA_KEN_BURNS_ZOOM 1.12               /* the zoom reached over a scene */

/* 1 when name is a plain file name (no '/', not hidden, not empty). */
int media_plain_name(const char *name);

/* The file for a scene's visual object: visual.media when it is set, else
 * the first keyword that matches words of a file name in media_dir
 * ("ocean" matches "ocean-waves.jpg"; files sorted by name, and scenes with
 * the same keyword take turns by scene index). Returns VF_OK with *found 1
 * and the full path in path, VF_OK with *found 0 when nothing matched (the
 * scene keeps its gradient), or VF_EINVAL naming a visual.media that is not
 * a plain file name or is not in the library. media_dir may be NULL. */
enum vf_rc media_choose(const char *media_dir, json_t *visual, int scene, char *path,
                        size_t pathlen, int *found, struct vf_err *err);

struct media_source;

/* Opens an image or clip for frames of width x height (yuv420p, even sizes).
 * variant picks the Ken Burns direction. VF_EINVAL names the file when it is
 * not a readable image or video. */
enum vf_rc media_open(const char *path, int width, int height, int variant,
                      struct media_source **out, struct vf_err *err);

/* Paints the background t seconds into a scene lasting span seconds into dst
 * (yuv420p, width x height, writable). t only moves forward between calls. */
enum vf_rc media_draw(struct media_source *m, double t, double span, AVFrame *dst,
                      struct vf_err *err);

void media_close(struct media_source *m);

#endif
