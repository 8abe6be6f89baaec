/* vf-bench-render: renders one short in-process, as the worker does, and
 * prints its wall time, real-time factor and peak RSS.
 *
 *   vf-bench-render [-s script.json] [-a 9:16|16:9|1:1] [-r 1080|720]
 *                   [-t espeak|gemini|none] [-p palette] [-m media_dir]
 *                   [-f fonts_dir] [-n] OUT_DIR
 *
 * Without -s it speaks a built-in script of about 60 seconds in the default
 * style (9:16 1080x1920, 30 fps, espeak, the default palette). -n renders
 * without burnt-in captions. The last line is machine-readable:
 *   RESULT duration_s=.. wall_s=.. realtime=.. maxrss_kb=.. width=.. height=.. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/buf.h"
#include "core/config.h"
#include "render/render.h"
#include "script/options.h"

static const char *const default_script =
    "{\"title\":\"The deep sea\",\"language\":\"en\",\"scenes\":["
    "{\"narration\":\"More than half of the planet lies under water deeper than two hundred meters, "
    "in a place where sunlight never reaches and the pressure would crush a car like an empty can. "
    "We have better maps of the surface of Mars than of this dark world under our own oceans.\","
    "\"caption\":\"The deep sea\",\"visual\":{\"keywords\":[\"ocean\"],\"palette\":\"deep-sea\",\"media\":null}},"
    "{\"narration\":\"Life down there makes its own light. Most animals below a thousand meters glow, "
    "flashing blue and green to hunt, to hide, and to find each other in the dark. "
    "Some fish dangle a glowing lure right in front of their teeth.\","
    "\"caption\":\"Living light\",\"visual\":{\"keywords\":[\"glow\"],\"palette\":\"deep-sea\",\"media\":null}},"
    "{\"narration\":\"Giant squid grow longer than a bus and have the largest eyes in the animal kingdom, "
    "each one as wide as a dinner plate, built to catch the faintest flicker of light. "
    "For centuries sailors told stories about them long before anyone filmed one alive.\","
    "\"caption\":\"Giants\",\"visual\":{\"keywords\":[\"squid\"],\"palette\":\"deep-sea\",\"media\":null}},"
    "{\"narration\":\"On the sea floor, hot vents pour out water above three hundred degrees, "
    "full of minerals that feed bacteria, and those bacteria feed whole towns of crabs, "
    "worms and shrimp that never need the sun.\","
    "\"caption\":\"Hot vents\",\"visual\":{\"keywords\":[\"vent\"],\"palette\":\"deep-sea\",\"media\":null}},"
    "{\"narration\":\"Only a handful of people have ever visited the deepest point, the Challenger Deep, "
    "almost eleven kilometers down. "
    "Follow for more strange facts about the ocean.\","
    "\"caption\":\"Challenger Deep\",\"visual\":{\"keywords\":[\"trench\"],\"palette\":\"deep-sea\",\"media\":null}}],"
    "\"hashtags\":[\"#ocean\",\"#deepsea\"],\"description\":\"Five facts about the deep sea.\"}";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int on_progress(void *ud, int percent, const char *message)
{
    (void)ud;
    if (percent % 20 == 0 || percent == 1)
        fprintf(stderr, "  %3d%% %s\n", percent, message);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: vf-bench-render [-s script.json] [-a aspect] [-r 1080|720] [-t tts] "
                    "[-p palette] [-m media_dir] [-f fonts_dir] [-n] OUT_DIR\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *script_path = NULL, *aspect = NULL, *tts = NULL, *palette = NULL;
    const char *media_dir = NULL, *fonts_dir = NULL;
    int resolution = 0, no_captions = 0, opt;
    while ((opt = getopt(argc, argv, "s:a:r:t:p:m:f:n")) != -1) {
        switch (opt) {
        case 's': script_path = optarg; break;
        case 'a': aspect = optarg; break;
        case 'r': resolution = (int)strtol(optarg, NULL, 10); break;
        case 't': tts = optarg; break;
        case 'p': palette = optarg; break;
        case 'm': media_dir = optarg; break;
        case 'f': fonts_dir = optarg; break;
        case 'n': no_captions = 1; break;
        default: usage();
        }
    }
    if (optind + 1 != argc)
        usage();

    /* the defaults, then $VF_CONFIG (or /etc/vf/vf.conf) and VF_* overrides */
    struct vf_config cfg;
    char cerr[256];
    if (config_load(&cfg, NULL, cerr, sizeof(cerr)) != 0) {
        fprintf(stderr, "vf-bench-render: %s\n", cerr);
        return 1;
    }
    if (media_dir) {
        free(cfg.media_dir);
        cfg.media_dir = strdup(media_dir);
    }
    if (fonts_dir) {
        free(cfg.fonts_dir);
        cfg.fonts_dir = strdup(fonts_dir);
    }
    struct job_options o;
    job_options_defaults(&o, &cfg);
    if (aspect)
        vf_strlcpy(o.aspect, aspect, sizeof(o.aspect));
    if (resolution)
        o.resolution = resolution;
    if (tts)
        vf_strlcpy(o.tts, tts, sizeof(o.tts));
    if (palette)
        vf_strlcpy(o.palette, palette, sizeof(o.palette));

    json_error_t jerr;
    json_t *script = script_path ? json_load_file(script_path, 0, &jerr)
                                 : json_loads(default_script, 0, &jerr);
    if (!script) {
        fprintf(stderr, "vf-bench-render: script: %s (line %d)\n", jerr.text, jerr.line);
        config_free(&cfg);
        return 1;
    }
    struct render_request rq = { script, &o, &cfg, argv[optind], on_progress, NULL, no_captions };
    struct render_result res;
    struct vf_err err = { 0 };
    double t0 = now_s();
    enum vf_rc rc = render_video(&rq, &res, &err);
    double wall = now_s() - t0;
    json_decref(script);
    config_free(&cfg);
    if (rc != VF_OK) {
        fprintf(stderr, "vf-bench-render: %s: %s\n", vf_strerror(rc), err.text);
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("rendered %dx%d, %.1f s of video in %.1f s (%.2fx real time), peak RSS %ld MB\n",
           res.width, res.height, res.duration_s, wall, res.duration_s / wall, ru.ru_maxrss / 1024);
    printf("RESULT duration_s=%.2f wall_s=%.2f realtime=%.2f maxrss_kb=%ld width=%d height=%d\n",
           res.duration_s, wall, res.duration_s / wall, ru.ru_maxrss, res.width, res.height);
    return 0;
}
