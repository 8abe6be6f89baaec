#ifndef VF_SCRIPT_OPTIONS_H
#define VF_SCRIPT_OPTIONS_H
/* Job options: the `options` object of POST /api/jobs/{generate,step-script}.
 * Every key is optional; unknown keys are an error, not silently dropped.
 * Parsed values are normalised (defaults filled in) and stored on the job as
 * JSON, so the worker reads exactly what the API accepted. */
#include <jansson.h>
#include <stddef.h>

struct vf_config;

struct job_options {
    char language[16];          /* espeak language code, default "en" */
    int duration_s;             /* 15..180, default 45 */
    char aspect[8];             /* "9:16" (default), "16:9", "1:1" */
    int resolution;             /* 1080 (default) or 720: the short side */
    char voice[64];             /* espeak voice ("en-us+f3") or Gemini voice name */
    char tts[16];               /* "espeak", "gemini", "none" */
    char script_provider[16];   /* "template", "gemini", "openai" */
    char tone[32];              /* "informative" default; "fun", "dramatic", "calm", ... */
    char palette[32];           /* style.palette */
    char font[64];              /* style.font, default "DejaVu Sans" */
    char caption_color[16];     /* style.caption_color "#RRGGBB" */
    char highlight_color[16];   /* style.highlight_color "#RRGGBB" */
    char caption_position[16];  /* style.caption_position "bottom" (default), "center", "top" */
    char music_track[128];      /* music.track: a file name in media_dir/music, "" for none */
    double music_volume;        /* music.volume 0..1, default 0.15 */
    /* Borrowed from job_options_defaults, never serialised: lets the parser
     * check music files under media_dir and that a chosen provider is
     * configured. NULL skips those checks. */
    const struct vf_config *cfg;
};

/* One field error: "options.duration_s" and a sentence. kind tells a key
 * that is not allowed at all (unknown_field) from a bad value (invalid_option). */
enum field_error_kind { FE_INVALID = 0, FE_UNKNOWN };

struct field_error {
    char field[64];
    char message[192];
    enum field_error_kind kind;
};

/* Fills defaults from the config (default_voice, tts, script_provider). */
void job_options_defaults(struct job_options *o, const struct vf_config *cfg);

/* Parses and validates `in` (may be NULL: all defaults) over the defaults in o.
 * Returns 0, or -1 with the first problem in *fe (field "options.<key>"). */
int job_options_parse(json_t *in, struct job_options *o, struct field_error *fe);

/* The normalised options as a new JSON object (caller owns it). */
json_t *job_options_to_json(const struct job_options *o);

/* Output size in pixels for the aspect and resolution (1080 → 1080x1920 for 9:16). */
void job_options_frame_size(const struct job_options *o, int *width, int *height);

/* 1 when code is an espeak language this server offers ("en", "pt-br"), else 0. */
int job_options_language_known(const char *code);

/* GET /api/options body: languages, voices, aspects, palettes, fonts, music
 * tracks (from cfg->media_dir/music), providers configured. New reference. */
json_t *job_options_catalog(const struct vf_config *cfg);

#endif
