#ifndef VF_RENDER_CAPTIONS_H
#define VF_RENDER_CAPTIONS_H
/* Captions from word timings: words are grouped into short chunks (1-3 words)
 * that are shown together; the ASS document highlights the word being spoken,
 * SRT and VTT carry one cue per chunk with the same timings. */
#include <stddef.h>
#include "core/buf.h"
#include "core/err.h"

struct caption_word {
    const char *text;       /* borrowed, not terminated: len bytes of the narration */
    size_t len;
    double start, end;      /* seconds in the finished video, start <= end */
    int scene;
};

struct caption_chunk {
    size_t first, count;    /* words[first .. first+count-1] */
    double start, end;
};

/* A title line shown for a whole scene (the scene's `caption`), may be none. */
struct caption_title {
    const char *text;       /* borrowed, NUL-terminated */
    double start, end;
};

struct caption_style {
    int width, height;              /* frame size = ASS PlayRes */
    const char *font;               /* family name */
    unsigned char color[3];         /* RGB of the words */
    unsigned char highlight[3];     /* RGB of the word being spoken */
    const char *position;           /* "bottom", "center", "top" */
};

#define CAPTION_MAX_WORDS_PER_CHUNK 3
#define CAPTION_MAX_CHUNK_CHARS 16
#define CAPTIONS_MAX_DOC (8u << 20)

/* Groups words into chunks. chunks must have room for nwords entries.
 * Returns the number of chunks. */
size_t captions_group(const struct caption_word *words, size_t nwords,
                      struct caption_chunk *chunks);

/* Appends the documents to out (initialised by the caller). Return 0, or -1
 * when the buffer refused the data. */
int captions_to_ass(const struct caption_word *words, const struct caption_chunk *chunks,
                    size_t nchunks, const struct caption_title *titles, size_t ntitles,
                    const struct caption_style *st, struct buf *out);
int captions_to_srt(const struct caption_word *words, const struct caption_chunk *chunks,
                    size_t nchunks, struct buf *out);
int captions_to_vtt(const struct caption_word *words, const struct caption_chunk *chunks,
                    size_t nchunks, struct buf *out);

/* Parses "#RRGGBB" into rgb; returns 0, or -1 (rgb untouched). */
int captions_parse_color(const char *s, unsigned char rgb[3]);

/* Writes captions.ass, captions.srt and captions.vtt into dir. */
enum vf_rc captions_write_files(const struct caption_word *words, size_t nwords,
                                const struct caption_title *titles, size_t ntitles,
                                const struct caption_style *st, const char *dir,
                                struct vf_err *err);

#endif
