/* The job as the API shows it (DESIGN §3). */
#include "api/api.h"

#include <stdio.h>

static json_t *json_or_null_from_text(const char *text)
{
    if (!text)
        return json_null();
    json_t *j = json_loads(text, 0, NULL);
    return j ? j : json_null();
}

static json_t *media_url(long long id, const char *name)
{
    char url[96];
    snprintf(url, sizeof(url), "/api/jobs/%lld/media/%s", id, name);
    return json_string(url);
}

json_t *api_job_json(const struct job *j, int with_script)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_integer(j->id));
    json_object_set_new(o, "owner", json_string(j->owner_name));
    json_object_set_new(o, "mode", json_string(job_mode_name(j->mode)));
    json_object_set_new(o, "state", json_string(job_state_name(j->state)));
    json_object_set_new(o, "topic", json_string(j->topic ? j->topic : ""));
    json_object_set_new(o, "options", json_or_null_from_text(j->options_json));
    const char *pstep = job_step_name(j->progress_step);
    json_object_set_new(o, "progress",
                        json_pack("{s:o, s:i, s:o}", "step", pstep ? json_string(pstep) : json_null(),
                                  "percent", j->progress_percent, "message",
                                  j->progress_message ? json_string(j->progress_message)
                                                      : json_null()));
    if (with_script)
        json_object_set_new(o, "script", json_or_null_from_text(j->script_json));
    if (j->has_video) {
        json_t *v = json_object();
        json_object_set_new(v, "url", media_url(j->id, "video.mp4"));
        json_object_set_new(v, "thumbnail_url", media_url(j->id, "thumb.jpg"));
        json_object_set_new(v, "captions_url", media_url(j->id, "captions.vtt"));
        json_object_set_new(v, "srt_url", media_url(j->id, "captions.srt"));
        json_object_set_new(v, "duration_s", json_real(j->video_duration_s));
        json_object_set_new(v, "size_bytes", json_integer(j->video_size_bytes));
        json_object_set_new(v, "width", json_integer(j->video_width));
        json_object_set_new(v, "height", json_integer(j->video_height));
        json_object_set_new(v, "sha256", json_string(j->video_sha256));
        json_object_set_new(v, "render_seconds", json_real(j->render_seconds));
        json_object_set_new(o, "video", v);
    } else {
        json_object_set_new(o, "video", json_null());
    }
    if (j->script_json)
        json_object_set_new(o, "script_url", media_url(j->id, "script.json"));
    if (j->state == JS_FAILED || j->error_message) {
        const char *estep = job_step_name(j->error_step);
        json_object_set_new(o, "error",
                            json_pack("{s:o, s:s}", "step", estep ? json_string(estep) : json_null(),
                                      "message", j->error_message ? j->error_message : "failed"));
    } else {
        json_object_set_new(o, "error", json_null());
    }
    json_object_set_new(o, "usage", json_or_null_from_text(j->usage_json));
    json_object_set_new(o, "attempts", json_integer(j->attempts));
    json_object_set_new(o, "cancel_requested", json_boolean(j->cancel_requested));
    json_object_set_new(o, "created_at", json_string(j->created_at));
    json_object_set_new(o, "updated_at", json_string(j->updated_at));
    return o;
}
