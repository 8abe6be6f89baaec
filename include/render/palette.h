#ifndef VF_RENDER_PALETTE_H
#define VF_RENDER_PALETTE_H
/* Named colour palettes for the animated gradient backgrounds. The names are
 * part of the API (options.style.palette, scene.visual.palette). */

struct palette {
    const char *name;
    unsigned char stops[4][3];      /* RGB colour stops the gradient moves through */
};

#define PALETTE_DEFAULT "deep-sea"

/* NULL-terminated list of every palette name, in display order. */
const char *const *palette_names(void);
/* The palette called name, or NULL. */
const struct palette *palette_find(const char *name);

#endif
