/* Last-Event-ID from the header and the query string, and event routes. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sse/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *query = strchr(text, '\n');
    if (query)
        *query++ = '\0';
    int have = 0;
    long long id = 0;
    (void)sse_parse_last_event_id(text, query, &have, &id);
    (void)sse_parse_last_event_id(NULL, text, &have, &id);
    (void)sse_parse_route(text);
    (void)sse_parse_id(text, strlen(text), 1, &id);
    free(text);
    return 0;
}
