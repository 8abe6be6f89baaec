/* Caption documents from word timings. Times are rounded once to the unit of
 * each format (centiseconds for ASS, milliseconds for SRT/VTT), so events that
 * share a boundary share exactly the same value and never overlap or gap. */
#include "render/captions.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* Words ending a clause close a chunk, so a chunk never spans a pause. */
static int ends_clause(const struct caption_word *w)
{
    return w->len > 0 && strchr(".,!?;:", w->text[w->len - 1]) != NULL;
}

/* The word as shown: trailing commas, full stops, semicolons and colons are
 * dropped (the chunking already shows the pause). */
static size_t display_len(const struct caption_word *w)
{
    size_t n = w->len;
    while (n > 0 && strchr(",.;:", w->text[n - 1]))
        n--;
    return n ? n : w->len;
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            c++;
    return c;
}

size_t captions_group(const struct caption_word *words, size_t nwords,
                      struct caption_chunk *chunks)
{
    size_t n = 0;
    size_t i = 0;
    while (i < nwords) {
        struct caption_chunk *c = &chunks[n++];
        size_t chars = utf8_chars(words[i].text, display_len(&words[i]));
        c->first = i;
        c->count = 1;
        while (!ends_clause(&words[i]) && c->count < CAPTION_MAX_WORDS_PER_CHUNK
               && i + 1 < nwords && words[i + 1].scene == words[i].scene
               && words[i + 1].start - words[i].end < 0.6) {
            size_t next = utf8_chars(words[i + 1].text, display_len(&words[i + 1]));
            if (chars + 1 + next > CAPTION_MAX_CHUNK_CHARS)
                break;
            chars += 1 + next;
            c->count++;
            i++;
        }
        c->start = words[c->first].start;
        c->end = words[i].end;
        i++;
    }
    return n;
}

/* ---- ASS ---- */

struct ass_layout {
    int font_size, outline, shadow;
    int alignment, margin_l, margin_r, margin_v;
    int title_size, title_margin_v;
};

/* Sizes and margins keep text inside the area the platforms' overlays leave
 * free: on 9:16 the bottom fifth (description) and the right edge (buttons). */
static void ass_layout_for(const struct caption_style *st, struct ass_layout *l)
{
    int w = st->width, h = st->height;
    int vertical = h > w, square = h == w;
    int short_side = vertical ? w : h;
    l->font_size = (int)lround(short_side * (vertical ? 0.085 : 0.075));
    l->outline = l->font_size / 14 > 2 ? l->font_size / 14 : 2;
    l->shadow = l->font_size / 24 > 1 ? l->font_size / 24 : 1;
    l->title_size = (int)lround(l->font_size * 0.6);
    if (vertical) {
        l->margin_l = (int)lround(w * 0.09);
        l->margin_r = (int)lround(w * 0.15);
    } else {
        l->margin_l = l->margin_r = (int)lround(w * 0.08);
    }
    if (strcmp(st->position, "top") == 0) {
        l->alignment = 8;
        l->margin_v = (int)lround(h * (vertical ? 0.14 : 0.08));
    } else if (strcmp(st->position, "center") == 0) {
        l->alignment = 5;
        l->margin_v = 0;
    } else {
        l->alignment = 2;
        l->margin_v = (int)lround(h * (vertical ? 0.24 : square ? 0.12 : 0.10));
    }
    l->title_margin_v = (int)lround(h * (vertical ? 0.09 : 0.06));
}

static void ass_time(char *out, size_t n, double t)
{
    long cs = lround(t * 100.0);
    if (cs < 0)
        cs = 0;
    snprintf(out, n, "%ld:%02ld:%02ld.%02ld", cs / 360000, cs / 6000 % 60, cs / 100 % 60, cs % 100);
}

/* Text safe inside an ASS Dialogue: braces start override blocks and a
 * backslash starts an escape, so they are replaced; line breaks become spaces. */
static int ass_put_text(struct buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '{')
            ch = '(';
        else if (ch == '}')
            ch = ')';
        else if (ch == '\\')
            ch = '/';
        else if (ch == '\n' || ch == '\r' || ch == '\t')
            ch = ' ';
        if (buf_append(out, &ch, 1) < 0)
            return -1;
    }
    return 0;
}

static int ass_put_font(struct buf *out, const char *font)
{
    for (const char *p = font; *p; p++) {
        char ch = (*p == ',' || (unsigned char)*p < 0x20) ? ' ' : *p;
        if (buf_append(out, &ch, 1) < 0)
            return -1;
    }
    return 0;
}

static unsigned long ass_colour(const unsigned char rgb[3])
{
    return (unsigned long)rgb[2] << 16 | (unsigned long)rgb[1] << 8 | rgb[0];
}

static int ass_header(const struct caption_style *st, const struct ass_layout *l, struct buf *out)
{
    int rc = 0;
    rc |= buf_printf(out,
                     "[Script Info]\nScriptType: v4.00+\nPlayResX: %d\nPlayResY: %d\n"
                     "WrapStyle: 0\nScaledBorderAndShadow: yes\nYCbCr Matrix: TV.601\n\n"
                     "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, "
                     "SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, "
                     "StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
                     "Alignment, MarginL, MarginR, MarginV, Encoding\n",
                     st->width, st->height);
    rc |= buf_puts(out, "Style: Caption,");
    rc |= ass_put_font(out, st->font);
    rc |= buf_printf(out, ",%d,&H00%06lX,&H00%06lX,&H00000000,&H96000000,-1,0,0,0,100,100,0,0,1,%d,%d,%d,%d,%d,%d,1\n",
                     l->font_size, ass_colour(st->color), ass_colour(st->highlight), l->outline,
                     l->shadow, l->alignment, l->margin_l, l->margin_r, l->margin_v);
    rc |= buf_puts(out, "Style: Title,");
    rc |= ass_put_font(out, st->font);
    rc |= buf_printf(out, ",%d,&H00%06lX,&H00%06lX,&H00000000,&H96000000,-1,0,0,0,100,100,0,0,1,%d,%d,8,%d,%d,%d,1\n\n",
                     l->title_size, ass_colour(st->color), ass_colour(st->highlight),
                     l->outline > 2 ? l->outline - 1 : 2, l->shadow, l->margin_l, l->margin_r,
                     l->title_margin_v);
    rc |= buf_puts(out, "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, "
                        "MarginV, Effect, Text\n");
    return rc ? -1 : 0;
}

/* A single word wider than the usable width is drawn smaller instead of
 * running off the frame (libass does not break inside a word). */
static int chunk_font_size(const struct caption_word *words, const struct caption_chunk *c,
                           const struct caption_style *st, const struct ass_layout *l)
{
    double usable = st->width - l->margin_l - l->margin_r;
    size_t longest = 0;
    for (size_t k = 0; k < c->count; k++) {
        const struct caption_word *w = &words[c->first + k];
        size_t n = utf8_chars(w->text, display_len(w));
        if (n > longest)
            longest = n;
    }
    double needed = (double)longest * l->font_size * 0.68;
    if (needed <= usable || longest == 0)
        return 0;
    return (int)(usable / ((double)longest * 0.68));
}

static int ass_chunk(const struct caption_word *words, const struct caption_chunk *c,
                     const struct caption_style *st, const struct ass_layout *l, struct buf *out)
{
    int fs = chunk_font_size(words, c, st, l);
    for (size_t k = 0; k < c->count; k++) {
        const struct caption_word *cur = &words[c->first + k];
        char t0[32], t1[32];
        /* the last word stays lit until the chunk ends */
        ass_time(t0, sizeof(t0), cur->start);
        ass_time(t1, sizeof(t1), k + 1 == c->count ? c->end : words[c->first + k + 1].start);
        if (strcmp(t0, t1) == 0)
            continue;
        if (buf_printf(out, "Dialogue: 0,%s,%s,Caption,,0,0,0,,", t0, t1) < 0)
            return -1;
        if (fs > 0 && buf_printf(out, "{\\fs%d}", fs) < 0)
            return -1;
        for (size_t j = 0; j < c->count; j++) {
            const struct caption_word *w = &words[c->first + j];
            if (j > 0 && buf_puts(out, " ") < 0)
                return -1;
            if (j == k && buf_printf(out, "{\\c&H%06lX&}", ass_colour(st->highlight)) < 0)
                return -1;
            if (ass_put_text(out, w->text, display_len(w)) < 0)
                return -1;
            if (j == k && buf_puts(out, "{\\c}") < 0)
                return -1;
        }
        if (buf_puts(out, "\n") < 0)
            return -1;
    }
    return 0;
}

int captions_to_ass(const struct caption_word *words, const struct caption_chunk *chunks,
                    size_t nchunks, const struct caption_title *titles, size_t ntitles,
                    const struct caption_style *st, struct buf *out)
{
    struct ass_layout l;
    ass_layout_for(st, &l);
    if (ass_header(st, &l, out) < 0)
        return -1;
    /* a title line would collide with captions placed at the top */
    for (size_t i = 0; i < ntitles && strcmp(st->position, "top") != 0; i++) {
        char t0[32], t1[32];
        if (!titles[i].text || !titles[i].text[0])
            continue;
        ass_time(t0, sizeof(t0), titles[i].start);
        ass_time(t1, sizeof(t1), titles[i].end);
        if (buf_printf(out, "Dialogue: 1,%s,%s,Title,,0,0,0,,", t0, t1) < 0
            || ass_put_text(out, titles[i].text, strlen(titles[i].text)) < 0
            || buf_puts(out, "\n") < 0)
            return -1;
    }
    for (size_t i = 0; i < nchunks; i++)
        if (ass_chunk(words, &chunks[i], st, &l, out) < 0)
            return -1;
    return 0;
}

/* ---- SRT and VTT ---- */

static void cue_time(char *out, size_t n, double t, char frac_sep)
{
    long ms = lround(t * 1000.0);
    if (ms < 0)
        ms = 0;
    snprintf(out, n, "%02ld:%02ld:%02ld%c%03ld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60,
             frac_sep, ms % 1000);
}

static int cue_text(const struct caption_word *words, const struct caption_chunk *c, int vtt,
                    struct buf *out)
{
    for (size_t j = 0; j < c->count; j++) {
        const struct caption_word *w = &words[c->first + j];
        size_t n = display_len(w);
        if (j > 0 && buf_puts(out, " ") < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            const char *rep = NULL;
            char ch = w->text[i];
            if (ch == '\n' || ch == '\r')
                rep = " ";
            else if (vtt && ch == '&')
                rep = "&amp;";
            else if (vtt && ch == '<')
                rep = "&lt;";
            else if (vtt && ch == '>')
                rep = "&gt;";
            if (rep ? buf_puts(out, rep) < 0 : buf_append(out, &ch, 1) < 0)
                return -1;
        }
    }
    return buf_puts(out, "\n\n");
}

static int cues(const struct caption_word *words, const struct caption_chunk *chunks,
                size_t nchunks, int vtt, struct buf *out)
{
    if (vtt && buf_puts(out, "WEBVTT\n\n") < 0)
        return -1;
    for (size_t i = 0; i < nchunks; i++) {
        char t0[32], t1[32];
        cue_time(t0, sizeof(t0), chunks[i].start, vtt ? '.' : ',');
        cue_time(t1, sizeof(t1), chunks[i].end, vtt ? '.' : ',');
        if (!vtt && buf_printf(out, "%zu\n", i + 1) < 0)
            return -1;
        if (buf_printf(out, "%s --> %s\n", t0, t1) < 0)
            return -1;
        if (cue_text(words, &chunks[i], vtt, out) < 0)
            return -1;
    }
    return 0;
}

int captions_to_srt(const struct caption_word *words, const struct caption_chunk *chunks,
                    size_t nchunks, struct buf *out)
{
    return cues(words, chunks, nchunks, 0, out);
}

int captions_to_vtt(const struct caption_word *words, const struct caption_chunk *chunks,
                    size_t nchunks, struct buf *out)
{
    return cues(words, chunks, nchunks, 1, out);
}

int captions_parse_color(const char *s, unsigned char rgb[3])
{
    unsigned char v[3];
    if (!s || s[0] != '#' || strlen(s) != 7)
        return -1;
    for (int i = 0; i < 3; i++) {
        int hi = s[1 + 2 * i], lo = s[2 + 2 * i];
        int h = hi >= '0' && hi <= '9' ? hi - '0' : (hi | 0x20) >= 'a' && (hi | 0x20) <= 'f' ? (hi | 0x20) - 'a' + 10 : -1;
        int o = lo >= '0' && lo <= '9' ? lo - '0' : (lo | 0x20) >= 'a' && (lo | 0x20) <= 'f' ? (lo | 0x20) - 'a' + 10 : -1;
        if (h < 0 || o < 0)
            return -1;
        v[i] = (unsigned char)(h * 16 + o);
    }
    memcpy(rgb, v, 3);
    return 0;
}

static enum vf_rc write_file(const char *dir, const char *name, const struct buf *b,
                             struct vf_err *err)
{
    char path[4096];
    if (vf_snprintf(path, sizeof(path), "%s/%s", dir, name) < 0)
        return vf_fail(err, VF_EINVAL, "output path too long: %s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return vf_fail(err, VF_ETRANSIENT, "cannot write %s: %m", path);
    size_t n = b->len ? fwrite(b->data, 1, b->len, f) : 0;
    int bad = n != b->len;
    if (fclose(f) != 0 || bad)
        return vf_fail(err, VF_ETRANSIENT, "cannot write %s: %m", path);
    return VF_OK;
}

enum vf_rc captions_write_files(const struct caption_word *words, size_t nwords,
                                const struct caption_title *titles, size_t ntitles,
                                const struct caption_style *st, const char *dir,
                                struct vf_err *err)
{
    struct caption_chunk *chunks = calloc(nwords ? nwords : 1, sizeof(*chunks));
    if (!chunks)
        return vf_fail(err, VF_ENOMEM, "out of memory building captions");
    size_t nchunks = captions_group(words, nwords, chunks);
    struct buf ass, srt, vtt;
    buf_init(&ass, CAPTIONS_MAX_DOC);
    buf_init(&srt, CAPTIONS_MAX_DOC);
    buf_init(&vtt, CAPTIONS_MAX_DOC);
    enum vf_rc rc = VF_OK;
    if (captions_to_ass(words, chunks, nchunks, titles, ntitles, st, &ass) < 0
        || captions_to_srt(words, chunks, nchunks, &srt) < 0
        || captions_to_vtt(words, chunks, nchunks, &vtt) < 0)
        rc = vf_fail(err, VF_ETOOBIG, "captions too large");
    if (rc == VF_OK)
        rc = write_file(dir, "captions.ass", &ass, err);
    if (rc == VF_OK)
        rc = write_file(dir, "captions.srt", &srt, err);
    if (rc == VF_OK)
        rc = write_file(dir, "captions.vtt", &vtt, err);
    buf_free(&ass);
    buf_free(&srt);
    buf_free(&vtt);
    free(chunks);
    return rc;
}
